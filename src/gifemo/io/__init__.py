"""gifemo.io."""
