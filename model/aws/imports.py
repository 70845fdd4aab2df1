"""What modules of the `model` package import: their closure, and requirements.txt lines.

The framework archive (framework_archive.py) turns the third-party names `model/inference/`
imports into its requirements; tests/model/test_container.py checks model/requirements.txt against
the closure of `model.container` the same way.
"""

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
PACKAGE_NAME = PACKAGE_DIR.name
REPOSITORY_REQUIREMENTS = PACKAGE_DIR.parent / "requirements.txt"


class ImportProblem(Exception):
    """An import cannot be resolved (beyond the package, or no distribution provides it)."""


def module_file(name: str) -> Path | None:
    """The file of module `name` (dotted, relative to this package), if it is one of ours."""
    base = PACKAGE_DIR.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imports_of(path: Path) -> tuple[set[str], set[str]]:
    """(modules of this package, top-level third-party or stdlib names) that `path` imports.

    An outside name imported only under `try: ... except ImportError` is optional, so it is not
    counted: the module copes without it.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    own: set[str] = set()
    external: set[str] = set()
    optional = _guarded_imports(tree)
    # The dotted name of the package `path` belongs to, relative to PACKAGE_DIR ("" for the top).
    relative_parts = path.relative_to(PACKAGE_DIR).with_suffix("").parts
    here = list(relative_parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top, _, rest = alias.name.partition(".")
                if top == PACKAGE_NAME:
                    own.add(rest)
                elif node not in optional:
                    external.add(top)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                top, _, rest = (node.module or "").partition(".")
                if top != PACKAGE_NAME:
                    if node not in optional:
                        external.add(top)
                    continue
                parent = rest.split(".") if rest else []
            else:
                up = node.level - 1
                if up > len(here):
                    raise ImportProblem(f"{path.name}: relative import beyond the package")
                parent = here[: len(here) - up] + (node.module.split(".") if node.module else [])
            if parent:
                own.add(".".join(parent))
            # `from . import recommender` names modules; `from .protocol import parse` names
            # attributes, which module_file simply does not find as files.
            for alias in node.names:
                own.add(".".join([*parent, alias.name]))
    return own, external


def _guarded_imports(tree: ast.Module) -> set[ast.stmt]:
    """The import statements inside a `try` whose handlers catch ImportError."""
    guarded: set[ast.stmt] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        caught = {
            name.id
            for handler in node.handlers
            if handler.type is not None
            for name in ast.walk(handler.type)
            if isinstance(name, ast.Name)
        }
        if caught & {"ImportError", "ModuleNotFoundError"}:
            for statement in node.body:
                guarded.update(
                    inner
                    for inner in ast.walk(statement)
                    if isinstance(inner, (ast.Import, ast.ImportFrom))
                )
    return guarded


def import_closure(entry: str) -> tuple[list[Path], set[str]]:
    """The files of this package `entry` needs (itself included) and the outside names imported."""
    files: dict[Path, None] = {}
    external: set[str] = set()
    pending = [entry, "__init__"]  # the package's own __init__ runs before any of its modules
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        path = module_file(name)
        if path is None:
            continue  # an attribute imported from a module, not a module
        files[path] = None
        # Importing `a.b` runs `a/__init__.py` first.
        parts = name.split(".")
        for depth in range(1, len(parts)):
            pending.append(".".join([*parts[:depth], "__init__"]))
        own, outside = imports_of(path)
        pending.extend(own)
        external |= outside
    if module_file(entry) is None:
        raise ImportProblem(f"no module {entry!r} in {PACKAGE_DIR}")
    return sorted(files), external


def requirements_for(names: set[str], provided: frozenset[str] = frozenset()) -> list[str]:
    """requirements.txt lines for the third-party top-level names (the repository's pins).

    Distributions named in `provided` (normalised names) are the image's own and left out.
    """
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    distributions = importlib.metadata.packages_distributions()
    pinned = _repository_pins()
    lines = set()
    for name in sorted(names - stdlib - _first_party()):
        for distribution in distributions.get(name, []):
            key = _normalise(distribution)
            if key in provided:
                continue
            version = importlib.metadata.version(distribution)
            lines.add(pinned.get(key) or f"{distribution}=={version}")
        if name not in distributions:
            raise ImportProblem(f"cannot tell which distribution provides {name!r}")
    return sorted(lines)


def _first_party() -> set[str]:
    """The repository's other top-level packages (the Django app...): never on PyPI.

    A module that reaches one imports it where it is used and copes without it, as the image and
    the archive carry `model/` alone; the tests that load them without the repository show it.
    """
    root = PACKAGE_DIR.parent
    return {path.parent.name for path in root.glob("*/__init__.py")} - {PACKAGE_NAME}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _repository_pins() -> dict[str, str]:
    """{normalised distribution name: its line} from the repository's requirements.txt."""
    pins: dict[str, str] = {}
    if not REPOSITORY_REQUIREMENTS.is_file():
        return pins
    for raw in REPOSITORY_REQUIREMENTS.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)", line)
        if match:
            pins[_normalise(match[1])] = line
    return pins
