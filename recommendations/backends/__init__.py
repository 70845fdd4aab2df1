"""Where predictions come from: `get_backend()` returns the configured one."""

from .base import Backend, Prediction, PredictionRequest, get_backend, reset_clients

__all__ = ["Backend", "Prediction", "PredictionRequest", "get_backend", "reset_clients"]
