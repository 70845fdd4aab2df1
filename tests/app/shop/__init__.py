"""A test-only shop for the app's tests: products in categories, and orders of them."""
