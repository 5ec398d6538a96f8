"""qtickets-pipeline."""
