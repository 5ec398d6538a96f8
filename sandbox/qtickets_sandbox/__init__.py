"""qtickets-sandbox: a local, deterministic fake of the QTickets organiser REST API v1."""
