"""Generated from protos/foundry/api/training; never edited by hand (see foundry.api)."""
