"""bti: the BTI action-guide workflow engine and web application."""

__version__ = "0.1.0"
