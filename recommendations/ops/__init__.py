"""Prometheus metrics, shop-wide figures, CloudWatch, health for the check command."""
