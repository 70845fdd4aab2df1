"""Interactions: reading them (JSON Lines, CSV, ratings files) and the synthetic shop's."""
