"""What must survive a cache flush and a restart: the fallback ranking's stored versions, and the
impressions, clicks and engagement events that measure the widget (written in bulk by the
`record_events` task)."""

from django.db import models


class FallbackVersion(models.Model):
    """One computation of the fallback ranking; exactly one is current once any has been computed."""

    computed_at = models.DateTimeField(
        help_text="When the computation started (time decay is relative to it)."
    )
    is_current = models.BooleanField(default=False, db_index=True)
    interactions = models.PositiveBigIntegerField(default=0, help_text="Interaction lines read.")
    users = models.PositiveIntegerField(default=0)
    items = models.PositiveIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(default=0, help_text="Time to compute and store.")

    class Meta:
        ordering = ["-computed_at", "-pk"]
        constraints = [
            # Two refreshes racing to the flip cannot both leave their version current.
            models.UniqueConstraint(
                fields=["is_current"],
                condition=models.Q(is_current=True),
                name="recommendations_one_current_fallback",
            )
        ]

    def __str__(self) -> str:
        return f"Fallback version {self.pk} ({self.computed_at:%Y-%m-%d %H:%M})"


class FallbackRanking(models.Model):
    """A ranked list of item ids of one version: overall popularity, a category's, or an item's neighbours.

    One row per list (not per ranked item) keeps a refresh to a few thousand inserts and lets a page
    read the popularity list and the neighbours of a user's recent items in a single query.
    """

    class Kind(models.TextChoices):
        POPULAR = "popular", "popularity"
        CATEGORY = "category", "category popularity"
        NEIGHBOURS = "neighbours", "item neighbours"

    version = models.ForeignKey(FallbackVersion, on_delete=models.CASCADE, related_name="rankings")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Empty for POPULAR, the category key for CATEGORY, the item's wire id for NEIGHBOURS.
    key = models.CharField(max_length=64, blank=True)
    item_ids = models.JSONField(default=list, help_text="Wire ids, best first.")
    scores = models.JSONField(default=list, help_text="One score per item id, same order.")

    class Meta:
        ordering = ["version", "kind", "key"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "kind", "key"], name="recommendations_unique_fallback_ranking"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.key}".strip()


class Impression(models.Model):
    """One rendered widget: who saw it (pseudonymously), which items in which positions, and why."""

    request_id = models.CharField(max_length=32, unique=True)
    # The keyed hash of the user (recommendations.tracking.pseudonyms), never the primary key; empty when
    # the visitor was anonymous.
    pseudonym = models.CharField(max_length=64, blank=True, db_index=True)
    arm = models.CharField(max_length=16)
    source = models.CharField(max_length=16, help_text="model, fallback or mixed")
    model_version = models.CharField(max_length=128, blank=True)
    variant = models.CharField(max_length=64, blank=True, help_text="Production variant.")
    fallback_reason = models.CharField(max_length=32, blank=True)
    items = models.JSONField(
        default=list, help_text='[{"item_id": "12", "position": 1, "source": "model"}, ...]'
    )
    # What the model answered (the quality figures, reporting/quality.py). The model version and
    # variant above are the answering model's whenever it answered, even with nothing shown.
    prior = models.BooleanField(
        default=False, help_text="The model did not know the viewer: its popularity prior answered."
    )
    model_checked = models.PositiveSmallIntegerField(
        default=0, help_text="The model's items whose availability was looked at."
    )
    model_dropped = models.PositiveSmallIntegerField(
        default=0, help_text="Of those, the ones the availability filter dropped (stale)."
    )
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Impression {self.request_id} ({self.arm}, {self.source})"


class Click(models.Model):
    """A click on an item of an impression, counted by the signed redirect."""

    # One click per item of an impression (a hash of both): a double click or a reload of the
    # redirect does not count twice, and a flush that runs twice inserts nothing twice.
    click_id = models.CharField(max_length=32, unique=True)
    # No foreign key: a click may reach the database before its impression (both are buffered).
    impression_request_id = models.CharField(max_length=32, db_index=True)
    # As long as an endpoint's item id may be (recommendations.backends.codecs.MAX_ITEM_ID_CHARS).
    item_id = models.CharField(max_length=255)
    position = models.PositiveSmallIntegerField()
    pseudonym = models.CharField(max_length=64, blank=True)
    arm = models.CharField(max_length=16)
    source = models.CharField(max_length=16)
    variant = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Click on {self.item_id} (position {self.position}, {self.arm})"


class EngagementEvent(models.Model):
    """One thing a signed-in visitor did, for the widget-against-no-widget comparison.

    `visit` is a page that holds the widget's slot (in every arm, the control arm's too: it is
    rendered empty there); the others are sent by the shop (`signals.engagement`). A visit is a
    visitor's day, and it counts as engaged by an action when that day has an event of it
    (see `tracking/engagement.py`, `reporting/engagement.py`).
    """

    class Action(models.TextChoices):
        VISIT = "visit", "visit"
        PRODUCT_VIEW = "product_view", "product view"
        ADD_TO_CART = "add_to_cart", "add to cart"
        PURCHASE = "purchase", "purchase"

    # Random per event: a flush that runs twice inserts nothing twice.
    event_id = models.CharField(max_length=32, unique=True)
    pseudonym = models.CharField(max_length=64, db_index=True)
    arm = models.CharField(max_length=16)
    # Not "kind": that name is taken by the event pipeline's type of event (tracking/event_rows.py).
    action = models.CharField(max_length=16, choices=Action.choices)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} ({self.arm}, {self.created_at:%Y-%m-%d})"


class DailyRollup(models.Model):
    """Impressions, clicked impressions and clicks of one day and one group (`rollups.py`).

    Kept after the raw rows they count are purged (TRACKING_RETENTION_DAYS), so that the report
    reads one row per group and day instead of every impression.
    """

    day = models.DateField(help_text="The impressions' day, in the shop's time zone.")
    arm = models.CharField(max_length=16)
    source = models.CharField(max_length=16)
    variant = models.CharField(max_length=64, blank=True)
    model_version = models.CharField(max_length=128, blank=True)
    fallback_reason = models.CharField(max_length=32, blank=True)
    impressions = models.PositiveBigIntegerField(default=0)
    clicked = models.PositiveBigIntegerField(default=0, help_text="Impressions with a click.")
    clicks = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["day", "arm", "source", "variant", "model_version", "fallback_reason"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "arm", "source", "variant", "model_version", "fallback_reason"],
                name="recommendations_unique_daily_rollup",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.arm} {self.source} {self.variant}".strip()


class DailyEngagement(models.Model):
    """Visits of one day and arm, and how many of them each action engaged (`reporting/visits.py`).

    `action` is `visit` for every visit, an action of the `engagement` signal, or `any`. A visit
    is a visitor's day, so only whole days are rolled up; kept after the raw events are purged.
    """

    day = models.DateField(help_text="The visits' day, in the shop's time zone.")
    arm = models.CharField(max_length=16)
    action = models.CharField(max_length=16)
    visits = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["day", "arm", "action"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "arm", "action"], name="recommendations_unique_daily_engagement"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.arm} {self.action}: {self.visits}"


class RolledUpDay(models.Model):
    """A day whose rollups are computed: the report reads them instead of the raw rows."""

    day = models.DateField(unique=True)
    computed_at = models.DateTimeField()
    # The end of what the rollups count: the next midnight for an ended day, the start of the
    # current hour for today (the report reads today's later rows raw).
    through = models.DateTimeField()
    engagement = models.BooleanField(
        default=False,
        help_text="DailyEngagement and DailyModelAnswers hold this whole day's visits and answers.",
    )
    available_items = models.PositiveIntegerField(
        null=True, help_text="Products available at the day's last roll-up while it ran."
    )

    class Meta:
        ordering = ["day"]

    def __str__(self) -> str:
        return f"Rolled up {self.day}"


class DailyModelAnswers(models.Model):
    """What one model version and production variant answered on one whole day (`model_rollups.py`):
    the counts the quality figures need that do not add up over the other rollups' groups."""

    day = models.DateField(help_text="The impressions' day, in the shop's time zone.")
    model_version = models.CharField(max_length=128)
    variant = models.CharField(max_length=64, blank=True)
    items_shown = models.PositiveIntegerField(help_text="Distinct model items shown.")
    viewers = models.PositiveIntegerField(help_text="Distinct signed-in viewers it answered.")
    cold_viewers = models.PositiveIntegerField(help_text="Of those, the ones its prior answered.")
    checked = models.PositiveBigIntegerField(
        help_text="Its items whose availability was looked at."
    )
    dropped = models.PositiveBigIntegerField(help_text="Of those, the ones found unavailable.")
    first_served = models.DateTimeField(help_text="Its first impression of the day.")

    class Meta:
        ordering = ["day", "model_version", "variant"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "model_version", "variant"],
                name="recommendations_unique_daily_model_answers",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.model_version} {self.variant}".strip()


class DriftBaseline(models.Model):
    """A model version's training baseline (model/training/drift_baseline.py), loaded from DRIFT_BASELINE.

    The file is kept as it came (gzip'd JSON): the daily drift task decodes it; the date range
    has columns of its own, so the model age check reads two dates, not the catalogue.
    """

    model_version = models.CharField(max_length=128, unique=True)
    data = models.BinaryField(help_text="The baseline file, gzip'd JSON.")
    source = models.CharField(max_length=1024, help_text="The path or s3:// URI it came from.")
    min_timestamp = models.DateTimeField(help_text="The oldest training event.")
    max_timestamp = models.DateTimeField(help_text="The newest training event.")
    items = models.PositiveIntegerField(help_text="Items in the catalogue the model saw.")
    loaded_at = models.DateTimeField()

    class Meta:
        ordering = ["-loaded_at"]

    def __str__(self) -> str:
        return f"Drift baseline of {self.model_version}"


class DailyDrift(models.Model):
    """One day's live traffic against one model version's training baseline (`drift/daily.py`)."""

    day = models.DateField(help_text="The impressions' day, in the shop's time zone.")
    model_version = models.CharField(max_length=128)
    item_popularity = models.FloatField(
        null=True, help_text="Jensen-Shannon divergence of the recommended items' popularity bins."
    )
    history_length = models.FloatField(
        null=True, help_text="Jensen-Shannon divergence of the viewers' history lengths."
    )
    unseen_product_share = models.FloatField(
        null=True, help_text="Share of the available products the model never saw."
    )
    model_age_days = models.FloatField(
        help_text="Days from the newest training event to the day's end."
    )
    recommended_items = models.PositiveIntegerField(help_text="Model items shown that day.")
    viewers = models.PositiveIntegerField(help_text="Signed-in viewers of the model's answers.")
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["day", "model_version"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "model_version"], name="recommendations_unique_daily_drift"
            )
        ]

    def __str__(self) -> str:
        return f"Drift of {self.model_version} on {self.day}"
