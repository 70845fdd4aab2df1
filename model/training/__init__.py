"""Fitting models: ALS, EASE, the encoding they share, model selection, and the training run."""
