"""bti/db."""
