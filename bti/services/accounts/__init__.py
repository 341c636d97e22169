"""bti/services/accounts."""
