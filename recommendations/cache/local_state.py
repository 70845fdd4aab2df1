"""The one mechanism for state a process keeps: dropped on a setting change and after a fork.

Every module that keeps something per process (a merged settings dict, near-cache entries, a
products snapshot, compiled queries, rendered cards, breakers, clients, thread pools, buffers)
registers here how to drop it. One `setting_changed` receiver calls `drop` of each registration
that depends on the changed setting; one `os.register_at_fork` hook calls `after_fork` in a
forked child (gunicorn --preload, Celery prefork), where the parent's threads and sockets do not
exist and a lock one of those threads held stays held. So every kept lock is made anew there, and
what it guards is dropped (the holder may have been half-way through changing it). Plain copies of
data without a lock stay valid in a child and register no `after_fork`.
Tests call `drop_all()` between tests instead of resetting modules by hand.

This module imports nothing from the app: `recommendations.conf` registers here too.
"""

import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.core.signals import setting_changed

# `settings=ANY_SETTING`: the state may derive from any setting (templates, URLconf, database).
ANY_SETTING = None


@dataclass(frozen=True)
class Registration:
    """How one module's per-process state is dropped."""

    name: str
    drop: Callable[[], None] | None
    settings: frozenset[str] | None  # the settings it derives from; None: any
    after_fork: Callable[[], None] | None

    def depends_on(self, setting: str) -> bool:
        """Whether a change of `setting` must drop this state."""
        return self.settings is None or setting in self.settings


_registrations: dict[str, Registration] = {}
_registrations_lock = threading.Lock()


def register(
    name: str,
    *,
    drop: Callable[[], None] | None = None,
    settings: Iterable[str] | None = ANY_SETTING,
    after_fork: Callable[[], None] | None = None,
) -> None:
    """Register `name`'s state: `drop` runs when one of `settings` changes, `after_fork` in a child.

    Registering a name again replaces its registration (a module imported twice under test).
    """
    registration = Registration(
        name=name,
        drop=drop,
        settings=None if settings is None else frozenset(settings),
        after_fork=after_fork,
    )
    with _registrations_lock:
        _registrations[name] = registration


def registrations() -> list[Registration]:
    """Every registration, in the order the modules registered."""
    return list(_registrations.values())


def drop_for_setting(setting: str) -> None:
    """Drop every state that derives from `setting` (what `setting_changed` does)."""
    for registration in registrations():
        if registration.drop is not None and registration.depends_on(setting):
            registration.drop()


def drop_all() -> None:
    """Drop every registered state, as if every setting had changed (tests, between tests)."""
    for registration in registrations():
        if registration.drop is not None:
            registration.drop()


def _on_setting_changed(setting: str, **kwargs: Any) -> None:
    drop_for_setting(setting)


def after_fork_in_child() -> None:
    """Rebuild what a forked child cannot share with its parent (the at-fork hook calls it)."""
    global _registrations_lock
    # A fresh lock, not the parent's: another thread may have held it at the moment of the fork.
    _registrations_lock = threading.Lock()
    for registration in list(_registrations.values()):
        if registration.after_fork is not None:
            registration.after_fork()


setting_changed.connect(_on_setting_changed, dispatch_uid="recommendations.local_state")
os.register_at_fork(after_in_child=after_fork_in_child)
