"""Typed access to the `RECOMMENDATIONS` settings dict.

Every property reads `django.conf.settings` when used, so `override_settings` works in tests.
"""

from typing import Any

from django.conf import settings

from .defaults import DEFAULTS


class AppSettings:
    """`app_settings.BUDGET_MS` and friends: the shop's value, or the documented default."""

    def _user_settings(self) -> dict[str, Any]:
        return getattr(settings, "RECOMMENDATIONS", None) or {}

    def get(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"RECOMMENDATIONS has no setting {name!r}")
        return self._user_settings().get(name, DEFAULTS[name])

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or not name.isupper():
            raise AttributeError(name)
        return self.get(name)

    def unknown_keys(self) -> list[str]:
        """Keys in the shop's dict that the app does not know (most often a typo)."""
        return sorted(set(self._user_settings()) - set(DEFAULTS))

    @property
    def budget_seconds(self) -> float:
        return float(self.BUDGET_MS) / 1000.0


app_settings = AppSettings()
