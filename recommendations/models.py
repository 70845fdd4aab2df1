"""What must survive a cache flush and a restart: the fallback ranking's stored versions."""

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
