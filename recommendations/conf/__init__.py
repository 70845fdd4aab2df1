"""The app's settings: `app_settings`, typed access to the shop's `RECOMMENDATIONS` dict.

`defaults.py` declares each core setting (default, kind, documentation), each backend its own
(`declared.py`), `kinds.py` says what a value of a kind must be, `reference.py` writes
docs/settings.md from them. The shop's dict merged over the
defaults is kept until a `setting_changed` signal says RECOMMENDATIONS changed (as
`override_settings` and pytest-django's `settings` send; `cache/local_state.py` drops it), the way
Django keeps what it derives from settings: a page reads a dozen settings, each then a plain
attribute read.
"""

import threading
from typing import Any

from django.conf import settings

from ..cache import local_state
from .declared import backend_settings
from .defaults import DEFAULTS


class AppSettings:
    """`app_settings.BUDGET_MS` and friends: the shop's value, or the documented default."""

    def __init__(self) -> None:
        self._generation = 0  # moves on every reload
        self._lock = threading.Lock()
        # The backends' own settings' defaults, found on the first read after a reload.
        self._backend_defaults: dict[str, Any] | None = None

    def _user_settings(self) -> dict[str, Any]:
        return getattr(settings, "RECOMMENDATIONS", None) or {}

    def backend_defaults(self) -> dict[str, Any]:
        """The defaults of the settings the backends declare (built-in ones and BACKEND's)."""
        found = self._backend_defaults
        if found is None:
            # Empty while the backends are imported, in case one reads a setting on import.
            self._backend_defaults = {}
            found = {name: setting.default for name, setting in backend_settings().items()}
            self._backend_defaults = found
        return found

    def known(self, name: str) -> bool:
        """Whether `name` is a setting of the app or of a backend."""
        return name in DEFAULTS or name in self.backend_defaults()

    def get(self, name: str) -> Any:
        if name.isupper():
            try:
                return self.__dict__[name]
            except KeyError:
                pass
        if not self.known(name):
            raise AttributeError(f"RECOMMENDATIONS has no setting {name!r}")
        generation = self._generation
        user = self._user_settings()
        merged = {**DEFAULTS, **self.backend_defaults()}
        merged.update((key, user[key]) for key in merged.keys() & user.keys())
        with self._lock:
            # Kept as instance attributes, so that `app_settings.X` is then a plain attribute
            # read. A thread that read the settings just before they changed keeps its copy to
            # itself: only a copy made since the last reload is kept for everyone.
            if generation == self._generation:
                self.__dict__.update(merged)
        return merged[name]

    def reload(self) -> None:
        """Read RECOMMENDATIONS again on the next access."""
        with self._lock:
            self._generation += 1
            for name in [*DEFAULTS, *(self._backend_defaults or ())]:
                self.__dict__.pop(name, None)
            self._backend_defaults = None

    def after_fork(self) -> None:
        """Start a forked child with its own lock, reading RECOMMENDATIONS again."""
        # The parent's lock may be held by one of its threads, which the child does not have.
        self._lock = threading.Lock()
        self.reload()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or not name.isupper():
            raise AttributeError(name)
        return self.get(name)

    def unknown_keys(self) -> list[str]:
        """Keys in the shop's dict that the app does not know (most often a typo)."""
        return sorted(set(self._user_settings()) - set(DEFAULTS) - set(self.backend_defaults()))

    @property
    def budget_seconds(self) -> float:
        return float(self.BUDGET_MS) / 1000.0


app_settings = AppSettings()
local_state.register(
    "conf",
    drop=app_settings.reload,
    settings={"RECOMMENDATIONS"},
    after_fork=app_settings.after_fork,
)
