"""The admin report, its chart and statistics."""
