"""Dataset building, import, storage and on-device augmentation (no UI imports)."""
