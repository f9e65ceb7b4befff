"""Generated from protos/foundry/api/common; never edited by hand (see foundry.api)."""
