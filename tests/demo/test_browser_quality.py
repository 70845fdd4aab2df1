"""The admin report's quality over time in a real browser: two weeks of raw impressions, clicks and
visits, the second model version going live mid-way, rolled up by the real rollup code; staff
see both versions in every chart and the moment the second went live.

The section's screenshot goes to $QUALITY_SCREENSHOT when set (docs/measuring.md shows one), else to
the test's tmp_path.
"""

import os
import random
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from recommendations.reporting import rollups
from recommendations.reporting.quality_chart import FIGURES
from tests.demo.test_browser import chromium, page  # noqa: F401 - the fixtures
from tests.support.quality_data import act, people, serve
from tests.support.shop_data import make_shop

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]

DAYS = 14
SWITCH_DAYS_AGO = 6  # v2 went live six days ago, at 14:00


def seed_two_versions() -> None:
    """Each day: model-arm page views of the live version(s), holdout and control visits.

    v2 is better liked (higher CTR) but knows fewer viewers and recommends more stale items.
    """
    rng = random.Random(24)
    make_shop()
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    for days_ago in range(DAYS, 0, -1):
        start = today - timedelta(days=days_ago)
        versions = ["v1"] if days_ago > SWITCH_DAYS_AGO else ["v2"]
        if days_ago == SWITCH_DAYS_AGO:
            versions = ["v1", "v2"]
        for version in versions:
            # On the switch day v1 served until 14:00, v2 from then on.
            when = start + timedelta(hours=8 if version == "v1" else 14, minutes=rng.randint(0, 50))
            better = version == "v2"
            views = 60 // len(versions)
            viewers = people(f"{version}-{days_ago}-", views)
            first = rng.randint(1, 20)
            ctr = rng.uniform(0.22, 0.28) if better else rng.uniform(0.15, 0.2)
            serve(when, viewers, arm="model", source="model", version=version,
                  variant="AllTraffic", clicked=round(views * ctr),
                  cold=views // (4 if better else 12), checked=10,
                  dropped=2 if better else rng.randint(0, 1),
                  items=range(first, first + (24 if better else 16)))  # fmt: skip
            serve(when, people(f"t{version}-{days_ago}-", rng.randint(2, 6)), arm="model",
                  source="fallback", reason="timeout")  # fmt: skip
        noon = start + timedelta(hours=12)
        serve(noon, people(f"h{days_ago}-", 40), arm="holdout", source="fallback",
              reason="holdout", clicked=rng.randint(4, 7))  # fmt: skip
        act(noon, people(f"c{days_ago}-", 30), arm="control", action="visit")
        engaged = people(f"c{days_ago}-", rng.randint(5, 8))
        engaged += people(f"v1-{days_ago}-", rng.randint(12, 18))
        engaged += people(f"v2-{days_ago}-", rng.randint(12, 18))
        act(noon + timedelta(hours=5), engaged, arm="x", action="product_view")
    rollups.roll_up()


def test_staff_see_each_figure_per_version_and_when_the_second_went_live(
    page,  # noqa: F811 - the fixture imported above
    live_server,
    tmp_path,
):
    seed_two_versions()
    get_user_model().objects.create_superuser("boss", password="pw")
    page.goto(f"{live_server.url}/admin/login/?next=/admin/recommendations/impression/report/")
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", "pw")
    page.click("input[type=submit]")

    charts = page.locator("figure.quality-chart")
    charts.first.wait_for()
    assert charts.count() == len(FIGURES)
    for figure in FIGURES:
        chart = page.locator(f'figure.quality-chart[data-figure="{figure.name}"]')
        for version in ("v1", "v2"):
            assert chart.locator(f'g.series[data-model-version="{version}"]').count() == 1
        # v1 went live before the window; v2 inside it, with its mark.
        assert chart.locator('g.went-live[data-model-version="v2"]').count() == 1
        assert chart.locator('g.went-live[data-model-version="v1"]').count() == 0
    switch = (timezone.localtime() - timedelta(days=SWITCH_DAYS_AGO)).date()
    mark = page.locator('g.went-live[data-model-version="v2"] title').first
    assert mark.text_content().startswith(f"v2 went live {switch.isoformat()} 14:")
    newest = page.locator('#quality-newest tr[data-model-version="v2"]')
    assert newest.locator("td.went-live").inner_text().startswith(switch.isoformat())
    assert page.locator('#quality-newest tr[data-model-version="v1"]').count() == 0

    path = Path(os.environ.get("QUALITY_SCREENSHOT") or tmp_path / "quality-over-time.png")
    page.locator("#quality-over-time").screenshot(path=str(path))
    assert path.stat().st_size > 0
