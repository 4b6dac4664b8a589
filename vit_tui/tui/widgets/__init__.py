"""Widgets of the app: charts, sparklines, the confusion table, thumbnails and form fields."""
