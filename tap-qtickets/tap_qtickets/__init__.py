"""tap-qtickets."""
