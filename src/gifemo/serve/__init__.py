"""gifemo.serve."""
