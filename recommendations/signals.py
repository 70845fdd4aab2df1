"""Signals the app defines for its host shop, and the receivers it connects."""

from django.dispatch import Signal

# Sent by the shop's checkout after an order is saved: kwargs `user` and `item_ids` (list of str).
purchase_completed = Signal()
