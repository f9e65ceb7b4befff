"""Generated from protos/foundry/api/inference; never edited by hand (see foundry.api)."""
