"""Training, evaluation, checkpoints, run folders and exports (no UI imports)."""
