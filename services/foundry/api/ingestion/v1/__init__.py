"""Generated from protos/foundry/api/ingestion/v1; never edited by hand (see foundry.api)."""
