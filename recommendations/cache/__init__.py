"""Cache access that never breaks a page, and the one mechanism for per-process state."""
