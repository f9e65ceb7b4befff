"""Generated from protos/foundry/api/common/v1; never edited by hand (see foundry.api)."""
