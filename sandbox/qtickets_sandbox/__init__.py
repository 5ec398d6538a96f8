"""qtickets-sandbox."""
