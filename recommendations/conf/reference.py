"""The settings reference (`docs/settings.md`), generated from `defaults.py` and the backends.

Each core setting's documentation is the comment above its default in DEFAULTS (a setting right
below another with no comment of its own shares that one's), its kind comes from KINDS. Each
built-in backend's settings follow in a table of their own, from its `settings` declaration. Regenerate with
`python -m recommendations.conf.reference > docs/settings.md`; `tests/test_settings_reference.py`
fails when the file differs from what this prints.
"""

import ast
import io
import tokenize
from pathlib import Path

from . import defaults
from .declared import BUILTIN_BACKENDS, Setting, settings_by_backend
from .kinds import Kind

HEADER = """\
# Settings reference

Every key of the `RECOMMENDATIONS` dict in the shop's settings, with its default, what a value
must be, and what it does. `python manage.py check` reports a value that is not what it must be,
naming the setting (ids `recommendations.E0xx`); unknown keys are a warning
(`recommendations.W001`).

This page is generated from `recommendations/conf/defaults.py` and the backends' own declarations
(`Backend.settings`, see [Writing a backend](writing-a-backend.md)):
`python -m recommendations.conf.reference > docs/settings.md`
(`tests/test_settings_reference.py` fails when it is out of date).

| setting | default | must be (check id) | what it does |
| --- | --- | --- | --- |
"""


FOOTER = """
## Checks across settings

Checks that tie settings together (`recommendations/checks/settings.py`), run once each setting they read
has the right kind:

| id | when |
| --- | --- |
| `recommendations.E001` | `RECOMMENDATIONS` is not a dict |
| `recommendations.E003` | `BACKEND` is `'sagemaker'` and `ENDPOINT_NAME` is empty (the backend's own check) |
| `recommendations.E004` | `BACKEND` is `'http'` and `HTTP_URL` is empty (the backend's own check) |
| `recommendations.E009` | `CONNECT_TIMEOUT` or `READ_TIMEOUT` is longer than `BUDGET_MS` |
| `recommendations.E010` | `CACHE_ALIAS` is not a key of `settings.CACHES` |
| `recommendations.E012` | `FRESH_TTL` is longer than `STALE_TTL` |
| `recommendations.E014` | the `CATALOG` adapter finds no product model (`PRODUCT_MODEL`) |
| `recommendations.E016` | `HOLDOUT_SHARE` and `SECOND_VARIANT_SHARE` add up to more than 1 |
| `recommendations.E026` | the `BACKEND`'s SDK is not installed (the message names the extra to install) |
| `recommendations.E027` | an entry of `FALLBACK_RANKERS` is not the dotted path of a `Ranker` subclass |
| `recommendations.W001` | `RECOMMENDATIONS` has keys the app does not know |
"""


def doc_lines(source: str | None = None) -> dict[str, str]:
    """Each DEFAULTS key's documentation: the comment lines above it, joined."""
    if source is None:
        source = Path(defaults.__file__).read_text(encoding="utf-8")
    docs: dict[str, str] = {}
    depth = 0
    seen_name = False  # `DEFAULTS` read, its `=` not yet
    inside = False  # within the DEFAULTS literal
    comments: list[str] = []
    previous = ""
    pending_key: str | None = None
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if not inside:
            if token.type == tokenize.NAME and token.string == "DEFAULTS":
                seen_name = True
            elif seen_name and token.type == tokenize.OP and token.string == "=":
                inside = True
            continue
        if token.type == tokenize.OP and token.string in "{[(":
            depth += 1
        elif token.type == tokenize.OP and token.string in "}])":
            depth -= 1
            if depth == 0:
                break
        elif depth == 1 and token.type == tokenize.COMMENT:
            comments.append(token.string.lstrip("#").strip())
        elif depth == 1 and token.type == tokenize.STRING:
            pending_key = ast.literal_eval(token.string)
            continue
        elif depth == 1 and token.type == tokenize.OP and token.string == ":" and pending_key:
            previous = " ".join(comments) if comments else previous
            docs[pending_key] = previous
            comments = []
        pending_key = None
    return docs


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _row(name: str, default: object, kind: Kind | None, doc: str) -> str:
    must_be = (
        f"{kind.describe()} ({kind.check_id})" if kind is not None else "(no kind declared yet)"
    )
    return f"| `{name}` | `{_cell(repr(default))}` | {_cell(must_be)} | {_cell(doc)} |"


def _backend_sections() -> str:
    """A table per built-in backend of the settings it declares."""
    from django.utils.module_loading import import_string

    builtins = import_string(BUILTIN_BACKENDS)
    declared = settings_by_backend()
    sections = []
    for name, path in builtins.items():
        own: dict[str, Setting] = declared.get(name, {})
        rows = [_row(key, s.default, s.kind, s.doc) for key, s in own.items()]
        sections.append(
            f"\n### The `{name}` backend (`{path}`)\n\n"
            + "| setting | default | must be (check id) | what it does |\n"
            + "| --- | --- | --- | --- |\n"
            + "\n".join(rows)
            + "\n"
        )
    return (
        "\n## Settings of the backends\n\nRead only when that backend is the `BACKEND`.\n"
        + "".join(sections)
    )


def render() -> str:
    """The Markdown of docs/settings.md."""
    docs = doc_lines()
    rows = [
        _row(name, default, defaults.KINDS.get(name), docs.get(name, ""))
        for name, default in defaults.DEFAULTS.items()
    ]
    return HEADER + "\n".join(rows) + "\n" + _backend_sections() + FOOTER


if __name__ == "__main__":
    print(render(), end="")
