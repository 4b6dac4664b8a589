"""Exporting a trained model for use elsewhere (TorchScript, ONNX: ``vit-tui export``)."""
