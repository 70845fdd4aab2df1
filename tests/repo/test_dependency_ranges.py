"""The wheel's dependency ranges are the ones the repository advises and tests with.

pyproject.toml's dependencies and extras are what pip resolves in a shop; requirements.txt is what
the suite and the benches run on, and what docs/installation.md advises. A package both name has the
same range in both, so a shop that installs an extra gets what was measured.
"""

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def advised() -> dict[str, Requirement]:
    """requirements.txt's requirements by package name."""
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    requirements = [Requirement(line) for line in lines if line.strip() and line[0] != "#"]
    return {canonicalize_name(requirement.name): requirement for requirement in requirements}


def wheel_requirements() -> dict[str, list[Requirement]]:
    """pyproject.toml's dependencies (under "") and each extra's, as the wheel's metadata has them."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = {"": project["dependencies"], **project["optional-dependencies"]}
    return {name: [Requirement(text) for text in texts] for name, texts in groups.items()}


def test_the_wheel_asks_for_the_ranges_requirements_txt_advises() -> None:
    repository = advised()
    for group, requirements in wheel_requirements().items():
        for requirement in requirements:
            name = canonicalize_name(requirement.name)
            if name in repository:
                assert requirement.specifier == repository[name].specifier, (
                    f"[{group or 'dependencies'}] {requirement} but requirements.txt has "
                    f"{repository[name]}"
                )


def test_the_redis_extra_brings_the_advised_client_parser_and_cache_backend() -> None:
    extra = {canonicalize_name(r.name): r for r in wheel_requirements()["redis"]}
    assert set(extra) == {"redis", "hiredis", "django-redis"}
    assert set(extra) <= set(advised())
    # The advised redis-py is a 6.x: 7 and 8 cost more per cache read (bench/page.py).
    assert "6.4.0" in extra["redis"].specifier
    assert "7.0.0" not in extra["redis"].specifier
    # django-redis 7, which asks for any redis-py from 4.0.2, resolves with it.
    assert "7.0.0" in extra["django-redis"].specifier
