"""The project's docs stand alone: links inside the repository resolve, links out are well-formed.

External links are references to the documentation of the projects the app builds on (Django,
Celery, boto3), never required reading. Nothing here fetches them: a link out passes when it is
https, to a host of that allow-list, with no address, port or user in it. docs/conf.py's roles
({django}`path`...) make such links from a path, so their targets are checked as paths under
each project's base URL.
"""

import ast
import ipaddress
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted([ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md")])
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")
# Links a reader could follow; redis://, s3://, postgres://... are settings' values, not links.
URL = re.compile(r"\b(?:https?|ftp|file)://[^\s)`'\"<>]+", re.IGNORECASE)
# A role, not a role's name quoted as code (`{django}`).
ROLE = re.compile(r"(?<!`)\{([a-z0-9]+)\}`([^`]*)`")
TITLED_TARGET = re.compile(r"^.*<([^<>]*)>$", re.DOTALL)
# The documentation the docs may link to, by host.
ALLOWED_HOSTS = {"docs.djangoproject.com", "docs.celeryq.dev", "boto3.amazonaws.com"}
# Where the demo runs on a developer's machine: an address to open, not a link out.
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def external_docs() -> dict[str, str]:
    """docs/conf.py's EXTERNAL_DOCS (role name -> base URL), read without running conf.py."""
    tree = ast.parse((ROOT / "docs" / "conf.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["EXTERNAL_DOCS"]:
            return ast.literal_eval(node.value)
    raise AssertionError("docs/conf.py defines no EXTERNAL_DOCS")


def link_problem(url: str) -> str | None:
    """Why `url` is no acceptable link out of the docs, or None when it is one."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        return f"not a URL ({error})"
    host = parts.hostname or ""
    if host in LOCAL_HOSTS and parts.scheme in {"http", "https"}:
        return None
    if parts.scheme != "https":
        return f"scheme {parts.scheme!r}, not https"
    if parts.username is not None or parts.password is not None or port is not None:
        return "a user, password or port in the address"
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return f"a bare address ({host})"
    if host not in ALLOWED_HOSTS:
        return (
            f"host {host!r} is not one of the projects the docs refer to ({sorted(ALLOWED_HOSTS)})"
        )
    return None


def role_target_problem(target: str) -> str | None:
    """Why a role's target is no path under its project's documentation, or None."""
    if not target or re.search(r"\s", target):
        return "empty or with spaces"
    if "://" in target or target.startswith("/") or ".." in target.split("/"):
        return "not a relative path"
    return None


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_links_out_are_well_formed_and_links_in_resolve(document: Path) -> None:
    text = document.read_text()
    for match in URL.finditer(text):
        problem = link_problem(match.group(0))
        assert problem is None, f"{document.name}: {match.group(0)}: {problem}"
    for target in MARKDOWN_LINK.findall(text):
        if "://" in target:
            continue  # a link out, checked above
        path = target.split("#", 1)[0]
        if path:
            assert (document.parent / path).exists(), f"{document.name}: broken link {target}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_links_made_by_roles_are_well_formed(document: Path) -> None:
    bases = external_docs()
    for name, content in ROLE.findall(document.read_text()):
        if name not in bases:
            continue  # a role of Sphinx or MyST, which the build checks
        titled = TITLED_TARGET.match(content)
        target = titled.group(1) if titled else content
        problem = role_target_problem(target) or link_problem(bases[name] + target)
        assert problem is None, f"{document.name}: {{{name}}}`{content}`: {problem}"


def test_the_roles_point_at_the_allowed_projects() -> None:
    bases = external_docs()
    assert set(bases) == {"django", "celery", "boto3"}
    for base in bases.values():
        assert link_problem(base) is None, base
        assert base.endswith("/"), base


@pytest.mark.parametrize(
    "url",
    [
        "https://docs.djangoproject.com/en/stable/topics/testing/tools/#overriding-settings",
        "https://boto3.amazonaws.com/v1/documentation/api/latest/guide/credentials.html",
        "http://127.0.0.1:8000/admin/",
        "http://localhost:8080/ping",
    ],
)
def test_references_and_local_addresses_pass(url: str) -> None:
    assert link_problem(url) is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://docs.djangoproject.com/en/stable/", "not https"),
        ("ftp://docs.celeryq.dev/", "not https"),
        ("file:///etc/passwd", "not https"),
        ("https://example.com/", "not one of the projects"),
        ("https://93.184.215.14/", "bare address"),
        ("https://[2001:db8::1]/", "bare address"),
        ("https://docs.djangoproject.com@example.com/", "user"),
        ("https://docs.djangoproject.com:8443/", "port"),
        ("https://docs.djangoproject.com.example.com/", "not one of the projects"),
    ],
)
def test_other_links_out_fail(url: str, problem: str) -> None:
    assert problem in (link_problem(url) or "")


@pytest.mark.parametrize("target", ["", "a b", "https://example.com/", "/en/stable/", "../x"])
def test_a_role_target_must_be_a_relative_path(target: str) -> None:
    assert role_target_problem(target) is not None


def test_readme_stays_short() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) < 200
