"""Generated from protos/foundry/api/labeling; never edited by hand (see foundry.api)."""
