"""Swapping the served model without a failed request: a holder per worker that watches the folder.

The server is started on a path that is (usually) a symlink, `.var/models/current`, to one
versioned folder (model/training/release.py writes a new folder and replaces the link
atomically). Each worker keeps a `ModelHolder`. Its watcher thread looks at the link every `interval` seconds; when
it points somewhere else (or the model files there were rewritten), the new model is loaded next
to the old one and then swapped in with one assignment. A request takes the holder's model once,
when it starts, so a request in flight finishes on the model it began with, and every request
that starts after the swap gets the new one. A folder that cannot be loaded (half-written, wrong
format) is logged and the old model stays.

With several workers, each one would swap at its own moment, and a client whose requests land on
different workers could see new, old, new. So the first worker to swap publishes the new
folder's fingerprint in the memory all workers share (`SharedState`), and a worker that sees a
fingerprint other than its own loads the new model before it answers: once any worker answered
with the new model, none answers with the old one again.
"""

import hashlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..inference.recommender import METADATA_FILE, Recommender
from .shared_state import SharedState

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FolderSignature:
    """What identifies the model files a path leads to right now."""

    path: str  # the folder, symlinks resolved
    inode: int  # of its model.json: a rewritten file is a new inode or a new mtime
    mtime_ns: int

    @property
    def fingerprint(self) -> bytes:
        """16 bytes that differ when the signature does."""
        text = f"{self.path}\0{self.inode}\0{self.mtime_ns}".encode()
        return hashlib.blake2b(text, digest_size=16).digest()


def folder_signature(model_dir: Path) -> FolderSignature:
    """The signature of the model folder `model_dir` leads to; OSError when there is none."""
    resolved = os.path.realpath(model_dir)
    status = os.stat(os.path.join(resolved, METADATA_FILE))
    return FolderSignature(resolved, status.st_ino, status.st_mtime_ns)


class ModelHolder:
    """The model a worker answers with; `current` is swapped when the folder changes."""

    def __init__(
        self,
        model_dir: Path | str,
        loader: Callable[[str], Recommender] = Recommender.load,
        shared: SharedState | None = None,
    ) -> None:
        self.model_dir = Path(model_dir)
        self._loader = loader
        self._shared = shared
        self._lock = threading.Lock()
        self._failed: FolderSignature | None = None
        self._stop = threading.Event()
        self.signature = folder_signature(self.model_dir)
        self.current: Recommender = loader(self.signature.path)
        self.swaps = 0
        if shared is not None:
            # A worker starting (or restarted by gunicorn) loads what `current` points at now,
            # the newest model: the others catch up with it.
            shared.publish_model(self.signature.fingerprint)

    def model_for_request(self) -> Recommender:
        """The model a new request uses: the newest any worker of this server already serves."""
        if self._shared is not None:
            published = self._shared.published_model()
            if published is not None and published != self.signature.fingerprint:
                # Another worker swapped: catch up before answering (a load, once per swap).
                self.reload_if_changed()
        return self.current

    def reload_if_changed(self) -> bool:
        """Load the model again when the folder changed; True when a new one was swapped in."""
        try:
            signature = folder_signature(self.model_dir)
        except OSError:
            return False  # mid-replacement or removed: keep serving what is loaded
        if signature == self.signature or signature == self._failed:
            return False
        with self._lock:
            if signature == self.signature:
                return False  # another thread of this worker swapped meanwhile
            previous = self.current.model_version
            try:
                model = self._loader(signature.path)
            except Exception as error:
                self._failed = signature
                logger.warning(
                    "model in %s cannot be loaded (%s); still serving %s",
                    signature.path,
                    type(error).__name__,
                    previous,
                    extra={"model_dir": signature.path, "model_version": previous},
                )
                return False
            # One assignment: a request either got the old object before it or the new one after.
            self.current = model
            self.signature = signature
            self.swaps += 1
            if self._shared is not None:
                self._shared.publish_model(signature.fingerprint)
        logger.info(
            "model swapped: %s -> %s",
            previous,
            model.model_version,
            extra={"model_dir": signature.path, "model_version": model.model_version},
        )
        return True

    def watch(self, interval: float) -> threading.Thread:
        """Check the folder every `interval` seconds in a daemon thread."""
        thread = threading.Thread(
            target=self._watch, args=(interval,), name="model-watch", daemon=True
        )
        thread.start()
        return thread

    def stop(self) -> None:
        """End the watcher thread."""
        self._stop.set()

    def _watch(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.reload_if_changed()
            except Exception:  # the watcher must outlive any surprise; the next tick tries again
                logger.exception("model watcher failed")
