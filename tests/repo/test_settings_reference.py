"""docs/settings.md is generated from recommendations/conf/defaults.py and must not drift from it."""

from pathlib import Path

from recommendations.conf.defaults import DEFAULTS
from recommendations.conf.reference import GROUPS, OTHER, doc_lines, grouped, in_group, render

DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


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


def test_each_setting_is_in_one_group_and_each_group_member_names_a_setting():
    # A name or prefix that matches nothing is a group entry left behind by a renamed setting.
    for title, _, members in GROUPS:
        for member in members:
            assert any(in_group(name, (member,)) for name in DEFAULTS), (title, member)
    placements = [name for _, _, names in grouped() for name in names]
    assert sorted(placements) == sorted(DEFAULTS)


def test_a_setting_no_group_names_is_listed_under_other_settings(monkeypatch):
    monkeypatch.setitem(DEFAULTS, "BRAND_NEW", 1)
    assert grouped()[-1] == (*OTHER, ["BRAND_NEW"])
    assert "## Other settings" in render()


def test_a_prefix_takes_the_settings_that_start_with_it_and_no_others():
    assert in_group("FALLBACK_NEIGHBOURS", ("FALLBACK_*",))
    assert not in_group("TRACKING", ("TRACKING_*",))
    assert in_group("TRACKING", ("TRACKING",))
