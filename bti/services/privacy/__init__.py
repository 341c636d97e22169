"""bti/services/privacy."""
