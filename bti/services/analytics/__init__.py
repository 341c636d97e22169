"""bti/services/analytics."""
