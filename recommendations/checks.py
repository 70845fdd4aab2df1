"""System checks for the RECOMMENDATIONS settings (filled in by the reusable-app issue)."""
