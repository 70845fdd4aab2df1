"""The host shop's product keys and the one-query lookup the catalog adapter uses."""
