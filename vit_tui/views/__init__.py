"""What the command line prints and the app shows alike: rich renderables with a plain-text fallback."""
