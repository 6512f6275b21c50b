"""gifemo.inference."""
