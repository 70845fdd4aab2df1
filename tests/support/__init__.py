"""Helpers the tests share: servers started on free ports, factories, shop data."""
