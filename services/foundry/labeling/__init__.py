"""The labeling service."""
