"""Safe retries: the Idempotency-Key header on billable POSTs (README, "Safe retries")."""
