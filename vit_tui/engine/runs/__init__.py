"""The run folder: its layout and files, checkpoints, listing, querying and describing runs."""
