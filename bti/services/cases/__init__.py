"""bti/services/cases."""
