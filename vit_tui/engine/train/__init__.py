"""Training a run: the trainer, its session, steps, batches, optimizer and schedule."""
