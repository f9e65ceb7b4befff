"""Generated from protos/foundry/api/augmentation/v1; never edited by hand (see foundry.api)."""
