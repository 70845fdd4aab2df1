"""The project's own docs stand alone: every link resolves inside the repository."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = sorted([ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md")])
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")
URL = re.compile(r"\b(?:https?|ftp)://([^/\s)`'\"<>]+)")
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_links_stay_inside_the_repository(document: Path) -> None:
    text = document.read_text()
    for match in URL.finditer(text):
        host = match.group(1).split(":")[0]
        assert host in LOCAL_HOSTS, (
            f"{document.name} links outside the repository: {match.group(0)}"
        )
    for target in MARKDOWN_LINK.findall(text):
        path = target.split("#", 1)[0]
        if path:
            assert (document.parent / path).exists(), f"{document.name}: broken link {target}"


def test_readme_stays_short() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) < 200
