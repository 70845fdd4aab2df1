"""buildah in a storage of the tests' own, and the stand-in for the Dockerfile's base image.

There is no Docker daemon and no image registry here. buildah builds and runs OCI images as root
with the `vfs` storage driver and `chroot` isolation; mmdebstrap makes the base image's root file
system from Debian's own packages (see `python_slim_stand_in`). The storage lives in a cache folder
outside the repository, so the stand-in base is made once per machine, as `docker pull` would
fetch the real one once; deleting the folder is always safe.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "recommender-image-test"
TOOLS = ("buildah", "mmdebstrap")
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_SECURITY_MIRROR = "http://deb.debian.org/debian-security"
# What docker-library's `python:X.Y-slim-RELEASE` has beyond Debian's minbase: the runtime packages
# its Dockerfile installs (ca-certificates, netbase, tzdata), and a Python in /usr/local. Here that
# Python is Debian's own, with a venv at /usr/local that puts `python` and `pip` on PATH.
BASE_PACKAGES = ("ca-certificates", "netbase", "tzdata")
RECIPE_LABEL = "recommender.test.stand-in-recipe"
_PYTHON_SLIM = re.compile(r"^python:(?P<python>3\.\d+)-slim-(?P<release>[a-z]+)$")


class ToolMissing(RuntimeError):
    """buildah or mmdebstrap is not installed, or this is not root (`make image-deps`)."""


def missing_tools() -> list[str]:
    """What the image tests need and this machine lacks (root, buildah, mmdebstrap)."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if os.geteuid() != 0:
        missing.append("root (mmdebstrap --mode=root and buildah's vfs storage)")
    return missing


@dataclass(frozen=True)
class PythonSlim:
    """A `python:X.Y-slim-RELEASE` base image name, split into its Python and Debian release."""

    name: str
    python: str
    release: str

    @classmethod
    def parse(cls, name: str) -> "PythonSlim":
        """The parts of `name`; ValueError unless it names a Debian release (`-slim-bookworm`)."""
        match = _PYTHON_SLIM.match(name)
        if match is None:
            raise ValueError(f"{name!r} is not python:X.Y-slim-<debian release>")
        return cls(name, match["python"], match["release"])

    @property
    def reference(self) -> str:
        """The name as a fully qualified reference, which `FROM` resolves to."""
        return f"docker.io/library/{self.name}"


class Buildah:
    """buildah with the tests' own storage, so a developer's own images are never touched."""

    def __init__(self, root: Path = CACHE) -> None:
        self.root = root
        self.environment = {
            **os.environ,
            "STORAGE_DRIVER": "vfs",
            "BUILDAH_ISOLATION": "chroot",
        }

    def command(self, *arguments: str | Path) -> list[str]:
        """The buildah command line for `arguments`, against this storage."""
        storage = ["--root", str(self.root / "storage"), "--runroot", str(self.root / "run")]
        return ["buildah", *storage, "--storage-driver", "vfs", *map(str, arguments)]

    def __call__(self, *arguments: str | Path, timeout: float = 600) -> str:
        """Run buildah; its stdout, or AssertionError with its output."""
        result = subprocess.run(
            self.command(*arguments),
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, (
            f"buildah {' '.join(map(str, arguments))} exited {result.returncode}:\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
        return result.stdout.strip()

    def label(self, image: str, name: str) -> str | None:
        """The value of label `name` on `image`, or None when the image is not in the storage."""
        result = subprocess.run(
            self.command("inspect", "--type", "image", image),
            env=self.environment,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            return None
        labels = json.loads(result.stdout)["OCIv1"]["config"].get("Labels") or {}
        return labels.get(name)

    def entrypoint(self, image: str) -> list[str]:
        """The image's ENTRYPOINT, what `docker run IMAGE word` puts before `word`."""
        return json.loads(self("inspect", "--type", "image", image))["OCIv1"]["config"][
            "Entrypoint"
        ]


def stand_in_recipe(base: PythonSlim) -> list[str]:
    """The mmdebstrap command (less its output file) that makes the stand-in's root file system."""
    return [
        "mmdebstrap",
        "--variant=minbase",
        "--mode=root",
        "--format=tar",
        "--include="
        + ",".join((f"python{base.python}", f"python{base.python}-venv", *BASE_PACKAGES)),
        # The slim image's Python lives in /usr/local; a venv there gives `python` and `pip` on
        # PATH, and pip inside a venv is not refused by Debian's externally-managed marker.
        f'--customize-hook=chroot "$1" python{base.python} -m venv /usr/local',
        base.release,
        "{output}",
        f"deb {DEBIAN_MIRROR} {base.release} main",
        f"deb {DEBIAN_MIRROR} {base.release}-updates main",
        f"deb {DEBIAN_SECURITY_MIRROR} {base.release}-security main",
    ]


def python_slim_stand_in(buildah: Buildah, base: PythonSlim) -> str:
    """Make `base` in the storage from Debian's packages unless it is there; its reference."""
    recipe = stand_in_recipe(base)
    digest = hashlib.sha256(json.dumps(recipe).encode()).hexdigest()[:16]
    if buildah.label(base.reference, RECIPE_LABEL) == digest:
        return base.reference
    with tempfile.TemporaryDirectory(dir=buildah.root) as folder:
        tarball = Path(folder) / "rootfs.tar"
        command = [part.replace("{output}", str(tarball)) for part in recipe]
        result = subprocess.run(command, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, f"mmdebstrap failed:\n{result.stderr[-4000:]}"
        container = buildah("from", "scratch")
        try:
            buildah("add", container, tarball, "/")
            buildah(
                "config",
                # docker-library's python images set these two and CMD python3.
                "--env",
                "PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
                "--env",
                "LANG=C.UTF-8",
                "--cmd",
                "python3",
                "--label",
                f"{RECIPE_LABEL}={digest}",
                container,
            )
            buildah("commit", "--quiet", "--rm", container, base.reference)
        except BaseException:
            subprocess.run(buildah.command("rm", container), env=buildah.environment)
            raise
    return base.reference
