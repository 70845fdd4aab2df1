"""The app's own `RECOMMENDATIONS` settings (each backend declares its own: `Backend.settings`,
docs/writing-a-backend.md): for each one its kind (type and range) in `KINDS`, and its
default in `DEFAULTS` under a comment that is its documentation.

`app_settings` (this package's `__init__.py`) reads these lazily; a shop overrides any of them in
`settings.RECOMMENDATIONS`. The system checks test every setting against its kind, and
`docs/settings.md` is generated from this module (`python -m recommendations.conf.reference`; a
test fails when it drifts).

To add a setting: its comment and default at the end of DEFAULTS, and one line in KINDS
(`tests/app/test_checks.py` fails for a setting without a kind).
"""

from .kinds import (
    AvailableFilter,
    Choice,
    CurrencyCode,
    Destination,
    Flag,
    Kind,
    Mapping,
    NameOrPath,
    Number,
    Optional,
    Text,
    TextList,
    Whole,
    positive,
    share,
)

OPTIONAL_TEXT = Optional(inner=Text(empty=False))
SECONDS = Number(minimum=0)

KINDS: dict[str, Kind] = {
    "BACKEND": NameOrPath(
        registry="recommendations.backends.base.BUILTIN_BACKENDS",
        base="recommendations.backends.base.Backend",
        check_id="recommendations.E002",
    ),
    "ENDPOINT_NAME": Text(),
    "REGION": OPTIONAL_TEXT,
    "TARGET_VARIANT": OPTIONAL_TEXT,
    "CUSTOM_ATTRIBUTES": OPTIONAL_TEXT,
    "CODEC": NameOrPath(
        registry="recommendations.backends.codecs.BUILTIN_CODECS",
        base="recommendations.backends.codecs.Codec",
        check_id="recommendations.E005",
    ),
    "NUM_ITEMS": Whole(),
    "BUDGET_MS": positive("recommendations.E007"),
    "CONNECT_TIMEOUT": Optional(inner=positive("recommendations.E008")),
    "READ_TIMEOUT": Optional(inner=positive("recommendations.E008")),
    "MAX_ATTEMPTS": Whole(),
    "INLINE_CALL_THREADS": Whole(),
    "TASK_MAX_ATTEMPTS": Whole(),
    "TASK_READ_TIMEOUT": positive(),
    "TASK_CONNECT_TIMEOUT": positive(),
    "MAX_POOL_CONNECTIONS": Whole(),
    "CACHE_ALIAS": Text(empty=False),
    "FRESH_TTL": Whole(),
    "STALE_TTL": Whole(),
    "BATCH_SIZE": Whole(),
    "PREFETCH_RETRY_BACKOFF": positive(),
    "ACTIVE_DAYS": Whole(),
    "PREFETCH_PASS_LOCK_SECONDS": Whole(),
    "CATALOG": NameOrPath(
        base="recommendations.catalog.CatalogAdapter", check_id="recommendations.E006"
    ),
    "PRODUCT_MODEL": Text(),
    "AVAILABLE_FILTER": AvailableFilter(),
    "FALLBACK_HALF_LIFE_DAYS": positive(),
    "FALLBACK_NEIGHBOURS": Whole(),
    "FALLBACK_RECENT_ITEMS": Whole(minimum=0),
    "FALLBACK_POPULAR_ITEMS": Whole(),
    "FALLBACK_POPULARITY_WEIGHT": Number(minimum=0),
    "FALLBACK_CHUNK_SIZE": Whole(),
    "FALLBACK_USER_TTL": Whole(),
    "FALLBACK_CACHE_TTL": Whole(),
    "BREAKER_FAILURES": Whole(),
    "BREAKER_COOLDOWN": positive(),
    "BREAKER_WINDOW": positive(),
    "BREAKER_FAILURE_RATE": Number(
        minimum=0, strict=True, maximum=1, check_id="recommendations.E013"
    ),
    "BREAKER_MIN_CALLS": Whole(minimum=0),
    "CACHE_RETRY_INTERVAL": SECONDS,
    "PSEUDONYM_KEY": OPTIONAL_TEXT,
    "HOLDOUT_SHARE": share(),
    "SECOND_VARIANT": OPTIONAL_TEXT,
    "SECOND_VARIANT_SHARE": share(),
    "TRACKING": Flag(),
    "CARD_CACHE_SECONDS": SECONDS,
    "PRODUCT_SNAPSHOT_SECONDS": SECONDS,
    "NEAR_CACHE_SECONDS": SECONDS,
    "METRICS_ALLOWED_IPS": TextList(),
    "CLOUDWATCH_NAMESPACE": OPTIONAL_TEXT,
    "CLOUDWATCH_ENDPOINT_URL": OPTIONAL_TEXT,
    "ALERT_FALLBACK_RATE": share(),
    "ALERT_P99_MS": positive(),
    "CLICK_MAX_AGE": Whole(),
    "EVENT_BATCH_SIZE": Whole(),
    "EVENT_FLUSH_INTERVAL": positive(),
    "EVENT_BUFFER_MAX": Whole(),
    "EXPORT_DESTINATION": Destination(),
    "EXPORT_FORMAT": Choice(
        registry="recommendations.export.rows.FORMATS", check_id="recommendations.E018"
    ),
    "EXPORT_CHUNK_SIZE": Whole(),
    "EXPORT_SETTLE_SECONDS": SECONDS,
    "EXPORT_CLICK_WEIGHT": Number(minimum=0),
    "EXPORT_S3_ENDPOINT_URL": OPTIONAL_TEXT,
    "EXPORT_S3_REGION": OPTIONAL_TEXT,
    "EXPORT_S3_MULTIPART_THRESHOLD": Whole(),
    "EXPORT_S3_MULTIPART_CHUNKSIZE": Whole(),
    "EXPORT_S3_EXTRA_ARGS": Mapping(),
    "MODEL_VERSION_REFRESH_SPREAD": SECONDS,
    "PSEUDONYM_KEY_FALLBACKS": TextList(check_id="recommendations.E103"),
    "METRICS_TOKEN": Text(),
    "EXCLUDE_MAX": Whole(),
    "CONTROL_SHARE": share(),
    "TRACKING_RETENTION_DAYS": Whole(),
    "TRACKING_PURGE_BATCH_SIZE": Whole(),
    "TRACKING_PURGE_PAUSE": SECONDS,
    "DRIFT_BASELINE": OPTIONAL_TEXT,
    "DRIFT_ITEM_POPULARITY_MAX": share(),
    "DRIFT_HISTORY_LENGTH_MAX": share(),
    "UNSEEN_PRODUCT_SHARE_MAX": share(),
    "MODEL_MAX_AGE_DAYS": positive(),
    "FALLBACK_RANKERS": TextList(check_id="recommendations.E027"),
    "CURRENCY": Optional(inner=CurrencyCode()),
}

DEFAULTS: dict[str, object] = {
    # Where predictions come from: "sagemaker", "http", "none" (no endpoint yet: the fallback ranking
    # alone, nothing called) or a dotted path to a Backend subclass.
    "BACKEND": "sagemaker",
    # The endpoint's name in logs, metrics and the circuit breaker; the sagemaker backend calls the
    # SageMaker endpoint of this name (and requires it).
    "ENDPOINT_NAME": "",
    # AWS region of the endpoint; None lets boto3's usual chain decide.
    "REGION": None,
    # Production variant to call (SageMaker TargetVariant); None lets SageMaker route.
    "TARGET_VARIANT": None,
    # Opaque string passed through as SageMaker CustomAttributes.
    "CUSTOM_ATTRIBUTES": None,
    # Codec: "json" (the app's own), "sagemaker_json" (instances/predictions) or a dotted path.
    "CODEC": "json",
    # Items in the widget when the template does not say.
    "NUM_ITEMS": 8,
    # The most a page waits for the endpoint, in milliseconds.
    "BUDGET_MS": 150,
    # Socket timeouts of the endpoint client on the page path in seconds; None derives them from
    # BUDGET_MS (a third of each attempt's share of the budget to connect, the rest to read).
    "CONNECT_TIMEOUT": None,
    "READ_TIMEOUT": None,
    # Total attempts of an endpoint call from a page: back to back within BUDGET_MS, only after a
    # timeout or a dropped connection.
    "MAX_ATTEMPTS": 1,
    # Threads per process that make the pages' inline endpoint calls; a page that finds none free
    # (the endpoint hangs and holds them) is served from the fallback at once (serving/inline_calls.py).
    "INLINE_CALL_THREADS": 8,
    # Total attempts of an endpoint call from a Celery task: the transport's retries with backoff
    # (botocore standard mode).
    "TASK_MAX_ATTEMPTS": 3,
    # Socket timeout of calls from Celery tasks, which have no page waiting on them.
    "TASK_READ_TIMEOUT": 10.0,
    # Connect timeout of calls from Celery tasks, in seconds.
    "TASK_CONNECT_TIMEOUT": 2.0,
    # HTTP connection pool size of the endpoint client.
    "MAX_POOL_CONNECTIONS": 20,
    # Cache alias for prefetched recommendations, fallback tables and the breaker.
    "CACHE_ALIAS": "default",
    # A prefetched entry is fresh for FRESH_TTL seconds, then served stale (and refreshed) until STALE_TTL.
    "FRESH_TTL": 15 * 60,
    "STALE_TTL": 24 * 60 * 60,
    # Users per invoke_endpoint call when prefetching.
    "BATCH_SIZE": 50,
    # Base of the prefetch tasks' exponential retry backoff in seconds (full jitter, capped at 120 s).
    "PREFETCH_RETRY_BACKOFF": 2.0,
    # Users who were active in the last ACTIVE_DAYS days are prefetched by beat.
    "ACTIVE_DAYS": 30,
    # Seconds a prefetch pass holds its lock past its last page read: while a pass pages, beat's
    # next one is skipped; a pass whose chain of tasks died stops blocking the next after this.
    "PREFETCH_PASS_LOCK_SECONDS": 10 * 60,
    # Dotted path of the catalog adapter (a recommendations.catalog.CatalogAdapter subclass).
    "CATALOG": "recommendations.catalog.CatalogAdapter",
    # "app_label.ModelName" of the shop's product model, used by the default catalog adapter.
    "PRODUCT_MODEL": "",
    # Which products the default adapter may show: QuerySet.filter() keyword arguments (a dict), a Q
    # object, or the dotted path of a callable that gets the product model's queryset
    # (`_default_manager.all()`) and returns the available products (docs/catalog-adapter.md).
    "AVAILABLE_FILTER": {},
    # Fallback ranking: popularity half-life in days, neighbours kept per item, recent items per user.
    "FALLBACK_HALF_LIFE_DAYS": 30.0,
    "FALLBACK_NEIGHBOURS": 30,
    "FALLBACK_RECENT_ITEMS": 20,
    # Items kept in each stored popularity list (overall and per category).
    "FALLBACK_POPULAR_ITEMS": 200,
    # Weight of popularity against co-purchase scores in the personalised fallback (both scaled to 0..1).
    "FALLBACK_POPULARITY_WEIGHT": 0.1,
    # Interaction lines read per query when the fallback is refreshed.
    "FALLBACK_CHUNK_SIZE": 100_000,
    # Seconds a user's personalised fallback stays cached (a new version replaces it sooner).
    "FALLBACK_USER_TTL": 15 * 60,
    # Seconds the current fallback version and its popularity list stay cached between refreshes.
    "FALLBACK_CACHE_TTL": 2 * 60 * 60,
    # Circuit breaker: consecutive failures that open it, seconds it stays open.
    "BREAKER_FAILURES": 5,
    "BREAKER_COOLDOWN": 30,
    # Circuit breaker: length in seconds of the window over which the failure rate is counted.
    "BREAKER_WINDOW": 60,
    # Circuit breaker: share (0..1) of failed calls in a window that opens it.
    "BREAKER_FAILURE_RATE": 0.5,
    # Circuit breaker: calls a window needs before its failure rate is judged.
    "BREAKER_MIN_CALLS": 20,
    # Seconds a failing cache is skipped (reads miss at no cost) before it is tried again.
    "CACHE_RETRY_INTERVAL": 1.0,
    # Secret of the keyed hash that pseudonymises user ids leaving the premises; None uses SECRET_KEY.
    "PSEUDONYM_KEY": None,
    # Share (0..1) of users held out on the fallback ranking, and share sent to SECOND_VARIANT.
    "HOLDOUT_SHARE": 0.0,
    "SECOND_VARIANT": None,
    "SECOND_VARIANT_SHARE": 0.0,
    # Record impressions and clicks.
    "TRACKING": False,
    # Seconds a web process reuses a rendered product card (recommendations/card.html) while the
    # product's described fields stay the same (they are the card's key, so a change to them shows
    # at once); it bounds only how late a card template that shows more of the product catches up.
    # 0 renders every card on every page (serving/rendering.py).
    "CARD_CACHE_SECONDS": 600,
    # Seconds a web process may show the products it loaded for earlier cached pages without a
    # query, while the catalog's version in the cache stays the same (saving a product, a purchase
    # or catalog_changed() moves it); 0 loads them on every page (serving/product_snapshot.py).
    "PRODUCT_SNAPSHOT_SECONDS": 10,
    # Seconds a web process may keep the prefetched entries and the catalog version it read, on a
    # Redis cache. Every change the app makes to them is published and drops them in every process
    # at once, so this only bounds how late a change made behind the app's back shows
    # (cache.clear(), an entry edited by hand); 0 reads the cache on every page (cache/near.py).
    "NEAR_CACHE_SECONDS": 300,
    # Client addresses (REMOTE_ADDR) that may read the Prometheus metrics view; staff users always may.
    "METRICS_ALLOWED_IPS": ["127.0.0.1", "::1"],
    # CloudWatch: namespace of the published metrics (None: not published), and an endpoint override.
    "CLOUDWATCH_NAMESPACE": None,
    "CLOUDWATCH_ENDPOINT_URL": None,
    # recommendations_probe --alert: the fallback rate and endpoint p99 (ms) over the last hour that page someone.
    "ALERT_FALLBACK_RATE": 0.5,
    "ALERT_P99_MS": 1000,
    # Seconds a signed click link counts; an older link still leads to the product but is not counted.
    "CLICK_MAX_AGE": 2 * 24 * 60 * 60,
    # Tracking events a web process buffers before it hands them to a worker in one task message.
    "EVENT_BATCH_SIZE": 100,
    # Seconds at most that a web process keeps an event before handing it to a worker.
    "EVENT_FLUSH_INTERVAL": 5.0,
    # Events a web process keeps while the broker is unreachable; past that, new events are dropped and counted.
    "EVENT_BUFFER_MAX": 5000,
    # Where the export_interactions task writes training data: a folder or "s3://bucket/prefix";
    # empty switches the task off.
    "EXPORT_DESTINATION": "",
    # File format of the export_interactions task: "jsonl" or "csv".
    "EXPORT_FORMAT": "jsonl",
    # Rows read per database query by the export.
    "EXPORT_CHUNK_SIZE": 100_000,
    # Interactions younger than this many seconds wait for the next export (a checkout's
    # transaction may still be committing a row with a smaller id).
    "EXPORT_SETTLE_SECONDS": 5 * 60,
    # Weight of a widget click in the export (a purchase weighs its quantity); 0 leaves clicks out.
    "EXPORT_CLICK_WEIGHT": 0.25,
    # S3-compatible endpoint URL for the export (a local server, a VPC endpoint); None means AWS.
    "EXPORT_S3_ENDPOINT_URL": None,
    # Region of the export bucket; None uses REGION, then boto3's usual chain.
    "EXPORT_S3_REGION": None,
    # Files from this many bytes go up as a multipart upload, in parts of EXPORT_S3_MULTIPART_CHUNKSIZE.
    "EXPORT_S3_MULTIPART_THRESHOLD": 16 * 1024 * 1024,
    "EXPORT_S3_MULTIPART_CHUNKSIZE": 16 * 1024 * 1024,
    # Extra arguments of every upload, e.g. {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "..."}.
    "EXPORT_S3_EXTRA_ARGS": {},
    # Seconds over which prefetched entries made by an older model version are refreshed, spread
    # evenly by user, once answers show a new version (see prefetch/model_versions.py).
    "MODEL_VERSION_REFRESH_SPREAD": 30 * 60,
    # Older pseudonym keys, newest first, still recognised while PSEUDONYM_KEY changes (as Django's
    # SECRET_KEY_FALLBACKS); empty with a borrowed key means SECRET_KEY_FALLBACKS.
    "PSEUDONYM_KEY_FALLBACKS": [],
    # Bearer token a scraper sends (Authorization: Bearer ...) to read the metrics view; "" means none.
    # Behind a reverse proxy set it and METRICS_ALLOWED_IPS = []: every request has the proxy's address.
    "METRICS_TOKEN": "",
    # Most purchases a request sends the model as `exclude` (the most recent ones); older ones are
    # dropped from its answer instead. Keep it within the model's own limit (model/: 1,000).
    "EXCLUDE_MAX": 200,
    # Share (0..1) of users who see no widget at all (arm "control"), to measure the widget against
    # no widget by their visits' engagement (the top slice of the users' places, see tracking/arms.py).
    "CONTROL_SHARE": 0.0,
    # Days raw impressions, clicks and engagement events are kept; the purge_tracking task deletes
    # older ones once roll_up_tracking has counted their day (clicks only once exported), their daily
    # rollups stay. At least the report's window (14 days): a check refuses less.
    "TRACKING_RETENTION_DAYS": 90,
    # Rows the purge deletes per transaction (one primary-key range each): small, short locks.
    "TRACKING_PURGE_BATCH_SIZE": 5000,
    # Seconds the purge sleeps between two batches, leaving the database to the pages.
    "TRACKING_PURGE_PAUSE": 0.05,
    # Path or s3:// URI of the live model's drift baseline (the training job writes
    # drift_baseline.json.gz next to the model); compute_drift loads each new version's once.
    "DRIFT_BASELINE": None,
    # Jensen-Shannon divergence (0 to 1) of the recommended items' popularity from the training
    # data's above which compute_drift warns (docs/operations.md, "Drift").
    "DRIFT_ITEM_POPULARITY_MAX": 0.2,
    # Jensen-Shannon divergence (0 to 1) of the viewers' history lengths above which it warns.
    "DRIFT_HISTORY_LENGTH_MAX": 0.2,
    # Share of the available products the model never saw above which it warns.
    "UNSEEN_PRODUCT_SHARE_MAX": 0.2,
    # Days since the live model's newest training event after which a system check warns.
    "MODEL_MAX_AGE_DAYS": 14,
    # The fallback's strategies, tried in order while the widget has too few items: dotted paths of
    # recommendations.fallback.rankers.Ranker subclasses (fallback/rankers.py).
    "FALLBACK_RANKERS": [
        "recommendations.fallback.rankers.StoredRanking",
        "recommendations.fallback.rankers.NewestProducts",
    ],
    # ISO 4217 code of the shop's prices ("EUR", "GBP"): the card shows it with each price, in the
    # active language's number format (recommendations/prices.py); CatalogAdapter.format_price
    # overrides it all. None shows the bare number, and a check warns while products have a price.
    "CURRENCY": None,
}
