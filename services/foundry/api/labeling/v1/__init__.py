"""Generated from protos/foundry/api/labeling/v1; never edited by hand (see foundry.api)."""
