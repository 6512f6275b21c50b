"""gifemo.data."""
