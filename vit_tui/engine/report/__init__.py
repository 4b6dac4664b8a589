"""What a finished run leaves for people: figures, the report, comparisons, HTML pages."""
