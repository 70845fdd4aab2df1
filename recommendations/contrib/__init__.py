"""Optional integrations with other Django packages, each importable only with its extra."""
