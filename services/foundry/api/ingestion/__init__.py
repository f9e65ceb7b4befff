"""Generated from protos/foundry/api/ingestion; never edited by hand (see foundry.api)."""
