"""The augmentation service."""
