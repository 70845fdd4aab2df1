"""Experiment arms, impressions, clicks and the event pipeline."""
