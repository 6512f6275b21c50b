"""gifemo.evaluation."""
