"""The app's five main screens and its modal dialogs."""
