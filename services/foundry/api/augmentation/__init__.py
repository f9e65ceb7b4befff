"""Generated from protos/foundry/api/augmentation; never edited by hand (see foundry.api)."""
