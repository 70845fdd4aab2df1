"""Drift: live traffic against the training data of the model that served it (docs/operations.md)."""
