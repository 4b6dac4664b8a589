"""Using a trained run: loading its model, evaluating, predicting, attention maps, metrics."""
