"""Singer tap for the QTickets REST API v1 (read-only)."""
