"""Generated from protos/foundry/api/inference/v2; never edited by hand (see foundry.api)."""
