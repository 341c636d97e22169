"""bti/demo."""
