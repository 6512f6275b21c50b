"""gifemo.training."""
