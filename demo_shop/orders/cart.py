"""A minimal session cart: product pk -> quantity."""

from django.http import HttpRequest

SESSION_KEY = "cart"


class Cart:
    def __init__(self, request: HttpRequest) -> None:
        self.session = request.session
        self.items: dict[str, int] = dict(self.session.get(SESSION_KEY, {}))

    def add(self, product_id: int, quantity: int = 1) -> None:
        key = str(product_id)
        self.items[key] = self.items.get(key, 0) + quantity
        self._save()

    def remove(self, product_id: int) -> None:
        self.items.pop(str(product_id), None)
        self._save()

    def clear(self) -> None:
        self.items = {}
        self._save()

    def count(self) -> int:
        return sum(self.items.values())

    def _save(self) -> None:
        self.session[SESSION_KEY] = self.items
        self.session.modified = True
