"""The floor under training and inference: device choice, precision, the process environment."""
