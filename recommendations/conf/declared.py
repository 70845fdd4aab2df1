"""Every setting the app knows: the core ones of `defaults.py` and those each backend declares.

A backend declares its own settings next to its code (`Backend.settings`, a name -> `Setting`
dict), the way it declares its checks and health hints. They are `RECOMMENDATIONS` keys like any
other, read through `app_settings`; the built-in backends' are always known, a custom backend's
(a dotted path in BACKEND) once it is configured. Backends are named by dotted path and imported
only here, when the settings are first read, so that this package imports nothing of the app.
"""

from typing import Any, NamedTuple

from django.conf import settings
from django.utils.module_loading import import_string

from .defaults import DEFAULTS, KINDS
from .kinds import Kind

BUILTIN_BACKENDS = "recommendations.backends.base.BUILTIN_BACKENDS"
CORE = "core"


class Setting(NamedTuple):
    """One setting: its default, what a value must be, and what it does (the reference's words)."""

    default: Any
    kind: Kind
    doc: str


def configured_backend() -> object:
    """The shop's BACKEND as written (a built-in name or a dotted path), read without app_settings."""
    user = getattr(settings, "RECOMMENDATIONS", None)
    return user.get("BACKEND", DEFAULTS["BACKEND"]) if isinstance(user, dict) else None


def backend_paths() -> dict[str, str]:
    """The built-in backends and the configured one, by the name BACKEND gives them."""
    paths = dict(import_string(BUILTIN_BACKENDS))
    configured = configured_backend()
    if isinstance(configured, str) and configured and configured not in paths:
        paths[configured] = configured
    return paths


def settings_by_backend() -> dict[str, dict[str, Setting]]:
    """Each backend's own settings, by backend name (a backend that cannot be imported has none
    here: the BACKEND check says why when it is the configured one)."""
    found: dict[str, dict[str, Setting]] = {}
    for name, path in backend_paths().items():
        try:
            backend = import_string(path)
        except ImportError:
            continue
        declared = getattr(backend, "settings", None)
        if isinstance(declared, dict):
            found[name] = dict(declared)
    return found


def backend_settings() -> dict[str, Setting]:
    """The backends' settings in one dict (a name declared twice keeps its first declaration)."""
    merged: dict[str, Setting] = {}
    for declared in settings_by_backend().values():
        for name, setting in declared.items():
            if name not in DEFAULTS:
                merged.setdefault(name, setting)
    return merged


def declared_settings() -> dict[str, Setting]:
    """Every setting, core ones first (their documentation is in `reference.doc_lines`)."""
    core = {
        name: Setting(default, KINDS.get(name, Kind()), "") for name, default in DEFAULTS.items()
    }
    return {**core, **backend_settings()}
