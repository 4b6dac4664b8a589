"""The Vision Transformer family: patch embedding, attention variants, encoder blocks."""
