"""gifemo.models."""
