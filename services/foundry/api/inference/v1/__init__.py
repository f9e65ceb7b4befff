"""Generated from protos/foundry/api/inference/v1; never edited by hand (see foundry.api)."""
