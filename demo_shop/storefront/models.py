"""What the storefront keeps of its own: how seed_demo made the shop's data."""

from django.db import models


class DemoSeed(models.Model):
    """The generator parameters of the last seed_demo run, so simulate_shoppers can rebuild the
    customers' latent tastes the orders came from (they are never stored themselves)."""

    parameters = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        get_latest_by = "created_at"

    def __str__(self) -> str:
        return f"seed_demo run of {self.created_at:%Y-%m-%d %H:%M}"
