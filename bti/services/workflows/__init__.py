"""bti/services/workflows."""
