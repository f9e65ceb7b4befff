"""Generated from protos/foundry/api/training/v1; never edited by hand (see foundry.api)."""
