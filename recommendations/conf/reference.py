"""The settings reference (`docs/settings.md`), generated from `defaults.py` and the backends.

Each core setting's documentation is the comment above its default in DEFAULTS (a setting right
below another with no comment of its own shares that one's), its kind comes from KINDS, and the
page lists the core settings in the topics of GROUPS below, each with a paragraph. Each built-in
backend's settings follow in a table of their own, from its `settings` declaration. Regenerate with
`python -m recommendations.conf.reference > docs/settings.md`; `tests/repo/test_settings_reference.py`
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
# Settings

The app's settings live in one dict, `RECOMMENDATIONS`, in the shop's Django settings: a shop
sets only the keys it changes, and every other one has the default below. The app reads them
through `recommendations.conf.app_settings`, which notices a change, so
`override_settings(RECOMMENDATIONS={...})` works in tests ([testing your shop](testing-your-shop.md)).
`python manage.py check` reports a value that is not what it must be, naming the setting (ids
`recommendations.E0xx`); unknown keys are a warning (`recommendations.W001`).

Most shops set `ENDPOINT_NAME`, `REGION`, `PRODUCT_MODEL` and `AVAILABLE_FILTER` (or `CATALOG`),
and `PSEUDONYM_KEY` ([installation](installation.md)); the defaults suit the rest. AWS credentials
are never settings: boto3 finds them in its own chain (environment, profile, instance or task
role; {boto3}`boto3's credentials guide <guide/credentials.html>`).

This page is generated from `recommendations/conf/defaults.py`, the groups in
`recommendations/conf/reference.py` and the backends' own declarations (`Backend.settings`, see
[writing a backend](writing-a-backend.md)):
`python -m recommendations.conf.reference > docs/settings.md`
(`tests/repo/test_settings_reference.py` fails when it is out of date).
"""

TABLE_HEAD = """\
| setting | default | must be (check id) | what it does |
| --- | --- | --- | --- |
"""

# The sections of the page: a title, a paragraph, and the settings in it (a name, or a prefix
# ending in `_*` that takes every setting starting with it). A setting no group names is listed
# under "Other settings" at the end: give a new one its group here.
GROUPS: list[tuple[str, str, tuple[str, ...]]] = [
    (
        "Where predictions come from",
        "The `sagemaker` backend calls SageMaker Runtime's `invoke_endpoint`, the `http` backend an "
        "API Gateway URL (signed with SigV4 when there is no API key); a dotted path names a "
        "`Backend` of your own ([API reference](api.md)). The codec is the wire format. Each "
        'backend\'s own settings are in its table under "Settings of the backends".',
        (
            "BACKEND",
            "ENDPOINT_NAME",
            "REGION",
            "TARGET_VARIANT",
            "CUSTOM_ATTRIBUTES",
            "CODEC",
            "MAX_POOL_CONNECTIONS",
        ),
    ),
    (
        "Your shop",
        "How the app finds the shop's products, purchases and history, and in what currency it "
        "shows their prices: the default catalog adapter reads these settings, a "
        "`CatalogAdapter` subclass of your own does the rest ([the catalog adapter]"
        "(catalog-adapter.md): which method each feature needs, [API reference](api.md)).",
        ("CATALOG", "PRODUCT_MODEL", "AVAILABLE_FILTER", "CURRENCY"),
    ),
    (
        "The page and its latency budget",
        "What a page shows and how long it may wait for the endpoint on a cache miss "
        "([how a page view is served](page-view.md)).",
        (
            "NUM_ITEMS",
            "BUDGET_MS",
            "CONNECT_TIMEOUT",
            "READ_TIMEOUT",
            "MAX_ATTEMPTS",
            "INLINE_CALL_THREADS",
            "EXCLUDE_MAX",
        ),
    ),
    (
        "What each web process keeps",
        "Copies a process reuses between pages; 0 turns each one off.",
        ("CARD_CACHE_SECONDS", "PRODUCT_SNAPSHOT_SECONDS", "NEAR_CACHE_SECONDS"),
    ),
    (
        "The cache and prefetching",
        "The shared cache that holds the prefetched entries, and the Celery tasks that fill it "
        "([prefetching](prefetching.md)).",
        (
            "CACHE_ALIAS",
            "FRESH_TTL",
            "STALE_TTL",
            "CACHE_RETRY_INTERVAL",
            "BATCH_SIZE",
            "ACTIVE_DAYS",
            "PREFETCH_*",
            "MODEL_VERSION_REFRESH_SPREAD",
            "TASK_*",
        ),
    ),
    (
        "The fallback ranking",
        "Popularity and co-purchases from the shop's own orders, for the pages the model cannot "
        "serve ([the fallback ranking](fallback.md)).",
        ("FALLBACK_*",),
    ),
    (
        "The circuit breaker",
        "When the pages stop calling a failing endpoint, and for how long "
        "([availability](availability.md)).",
        ("BREAKER_*",),
    ),
    (
        "Measuring the widget",
        "Impressions and clicks, the arms that compare the model with the fallback and with no "
        "widget, and how long the raw rows are kept ([measuring the widget](measuring.md)).",
        (
            "TRACKING",
            "HOLDOUT_SHARE",
            "SECOND_VARIANT",
            "SECOND_VARIANT_SHARE",
            "CONTROL_SHARE",
            "CLICK_MAX_AGE",
            "EVENT_*",
            "TRACKING_*",
        ),
    ),
    (
        "Pseudonyms",
        "The key of the keyed hash that stands for a user id wherever one leaves the shop "
        "([security and privacy](security.md)).",
        ("PSEUDONYM_*",),
    ),
    (
        "The export for retraining",
        "The daily `export_interactions` task and its S3 uploads ([retraining](retraining.md)).",
        ("EXPORT_*",),
    ),
    (
        "Metrics, alerts and CloudWatch",
        "Who may read `/recommendations/metrics/`, when `recommendations_check --alert` pages "
        "someone, and the figures published to CloudWatch ([operations](operations.md)).",
        ("METRICS_*", "ALERT_*", "CLOUDWATCH_*"),
    ),
    (
        "Drift and the model's age",
        "The daily `compute_drift` task's baseline and the thresholds of the system checks "
        "`recommendations.W010` and `W011` ([operations](operations.md)).",
        ("DRIFT_*", "UNSEEN_PRODUCT_SHARE_MAX", "MODEL_MAX_AGE_DAYS"),
    ),
]
OTHER = ("Other settings", "Settings no group in `recommendations/conf/reference.py` names yet.")


FOOTER = """
## Checks across settings

Checks that tie settings together (`recommendations/checks/settings.py`) or look at the catalog adapter
(`recommendations/checks/catalog.py`), run once each setting they read has the right kind:

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
| `recommendations.W004` | `CURRENCY` is None while the product model has a `price` field and the `CATALOG` adapter formats prices the default way |
| `recommendations.W005` | the `CATALOG` adapter leaves a feature off: it does not override the method the feature needs (one warning per feature, naming the methods; [the catalog adapter](catalog-adapter.md)) |
| `recommendations.W006` | the `CATALOG` adapter uses the default `describe()` and the product model has no `name`, `price`, `get_image_url` or `get_absolute_url` (a field, property or method) |
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


def in_group(name: str, members: tuple[str, ...]) -> bool:
    """Whether `members` (names, and prefixes ending in `_*`) take the setting `name`."""
    return any(
        name.startswith(member[:-1]) if member.endswith("_*") else name == member
        for member in members
    )


def grouped() -> list[tuple[str, str, list[str]]]:
    """Each group's title, paragraph and settings (in DEFAULTS order); "Other settings" last."""
    groups = [
        (title, text, [name for name in defaults.DEFAULTS if in_group(name, members)])
        for title, text, members in GROUPS
    ]
    placed = {name for _, _, names in groups for name in names}
    others = [name for name in defaults.DEFAULTS if name not in placed]
    if others:
        groups.append((*OTHER, others))
    return groups


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
        heading = f"\n### The `{name}` backend (`{path}`)\n\n"
        if not own:
            sections.append(heading + "No settings of its own.\n")
            continue
        rows = [_row(key, s.default, s.kind, s.doc) for key, s in own.items()]
        sections.append(heading + TABLE_HEAD + "\n".join(rows) + "\n")
    return (
        "\n## Settings of the backends\n\nRead only when that backend is the `BACKEND`.\n"
        + "".join(sections)
    )


def render() -> str:
    """The Markdown of docs/settings.md."""
    docs = doc_lines()
    sections = [
        f"## {title}\n\n{text}\n\n{TABLE_HEAD}"
        + "\n".join(
            _row(name, defaults.DEFAULTS[name], defaults.KINDS.get(name), docs.get(name, ""))
            for name in names
        )
        + "\n"
        for title, text, names in grouped()
    ]
    return HEADER + "\n" + "\n".join(sections) + _backend_sections() + FOOTER


if __name__ == "__main__":
    from django.conf import settings

    if not settings.configured:  # the reference is the defaults, whatever a shop configured
        settings.configure()
    print(render(), end="")
