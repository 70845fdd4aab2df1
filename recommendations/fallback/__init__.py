"""The local ranking: stored versions and page-time reads; the numpy/scipy arithmetic."""
