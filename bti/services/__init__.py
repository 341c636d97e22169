"""Use cases: ``(ctx, ...) -> result``. Services flush and never commit; the caller owns the
transaction (one request or one CLI command = one transaction)."""
