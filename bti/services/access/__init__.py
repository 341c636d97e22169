"""bti/services/access."""
