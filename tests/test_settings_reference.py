"""docs/settings.md is generated from recommendations/conf/defaults.py and must not drift from it."""

from pathlib import Path

from recommendations.conf.defaults import DEFAULTS
from recommendations.conf.reference import doc_lines, render

DOC = Path(__file__).resolve().parent.parent / "docs" / "settings.md"


def test_the_settings_reference_is_up_to_date():
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/settings.md is out of date: "
        "python -m recommendations.conf.reference > docs/settings.md"
    )


def test_every_setting_has_a_line_of_documentation():
    docs = doc_lines()
    assert sorted(docs) == sorted(DEFAULTS)
    assert [name for name, doc in docs.items() if not doc] == []


def test_a_setting_without_a_comment_shares_the_one_above_and_nested_keys_are_no_settings():
    source = """
DEFAULTS: dict[str, object] = {
    # Fresh, then stale.
    "FRESH": 1,
    "STALE": 2,
    # Upload arguments,
    # over two lines.
    "EXTRA": {"ServerSideEncryption": "aws:kms"},
}
"""
    assert doc_lines(source) == {
        "FRESH": "Fresh, then stale.",
        "STALE": "Fresh, then stale.",
        "EXTRA": "Upload arguments, over two lines.",
    }
