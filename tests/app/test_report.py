"""The admin report: numbers match a hand count of seeded impressions and clicks; staff only."""

import re
import uuid
from datetime import timedelta
from xml.etree import ElementTree

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from recommendations.models import Click, Impression
from recommendations.reporting import stats
from recommendations.reporting.report import build_report

pytestmark = pytest.mark.django_db

REPORT = "admin:recommendations_impression_report"


def impressions(count, *, when, arm, source, variant="", reason="", clicks=()):
    """`count` impressions; clicks[i] is how many items of the i-th impression were clicked."""
    made = []
    for number in range(count):
        impression = Impression.objects.create(
            request_id=uuid.uuid4().hex,
            pseudonym=f"p{number}",
            arm=arm,
            source=source,
            variant=variant,
            fallback_reason=reason,
            items=[{"item_id": str(n), "position": n, "source": source} for n in range(1, 9)],
            created_at=when,
        )
        made.append(impression)
        for item in range(clicks[number] if number < len(clicks) else 0):
            Click.objects.create(
                click_id=uuid.uuid4().hex,
                impression_request_id=impression.request_id,
                item_id=str(item + 1),
                position=item + 1,
                arm=arm,
                source=source,
                variant=variant,
                created_at=when + timedelta(seconds=30),
            )
    return made


@pytest.fixture
def seeded():
    """Two days of events, counted by hand in the tests below."""
    today = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    # Yesterday: model 10 (3 clicked, one of them twice) + 2 fallback on timeout; holdout 8 (1).
    impressions(10, when=yesterday, arm="model", source="model", clicks=[2, 1, 1])
    impressions(2, when=yesterday, arm="model", source="fallback", reason="timeout")
    impressions(8, when=yesterday, arm="holdout", source="fallback", reason="holdout", clicks=[1])
    # Today: model 5 (2 clicked) + 1 mixed; holdout 4 (none); second variant 3 (1 clicked).
    impressions(5, when=today, arm="model", source="model", variant="AllTraffic", clicks=[1, 1])
    impressions(
        1, when=today, arm="model", source="mixed", variant="AllTraffic", reason="too_few_items"
    )
    impressions(4, when=today, arm="holdout", source="fallback", reason="holdout")
    impressions(
        3, when=today, arm="variant", source="model", variant="challenger", clicks=[0, 0, 1]
    )
    # Outside the period, and a click whose impression was never recorded: neither counts.
    impressions(5, when=today - timedelta(days=30), arm="model", source="model", clicks=[1] * 5)
    Click.objects.create(
        click_id=uuid.uuid4().hex,
        impression_request_id="f" * 32,
        item_id="1",
        position=1,
        arm="model",
        source="model",
        created_at=today,
    )
    return today.date()


def test_report_counts_match_a_hand_count(seeded):
    report = build_report(days=14, today=seeded)

    by_arm = {arm: (c.impressions, c.clicked, c.clicks) for arm, c in report.by_arm.items()}
    assert by_arm == {
        "model": (10 + 2 + 5 + 1, 3 + 2, 4 + 2),
        "holdout": (8 + 4, 1, 1),
        "variant": (3, 1, 1),
    }
    assert report.by_arm["model"].ctr == pytest.approx(5 / 18)

    rows = {
        (r.day, r.arm, r.source, r.variant): (r.counts.impressions, r.counts.clicked)
        for r in report.rows
    }
    yesterday = seeded - timedelta(days=1)
    assert rows == {
        (yesterday, "model", "model", ""): (10, 3),
        (yesterday, "model", "fallback", ""): (2, 0),
        (yesterday, "holdout", "fallback", ""): (8, 1),
        (seeded, "model", "model", "AllTraffic"): (5, 2),
        (seeded, "model", "mixed", "AllTraffic"): (1, 0),
        (seeded, "holdout", "fallback", ""): (4, 0),
        (seeded, "variant", "model", "challenger"): (3, 1),
    }
    assert report.daily_by_arm["model"][yesterday].impressions == 12
    assert report.daily_by_arm["holdout"][seeded].ctr == 0

    model_vs_holdout, variant_vs_model = report.comparisons
    assert (model_vs_holdout.treated, model_vs_holdout.reference) == ("model", "holdout")
    assert model_vs_holdout.difference.estimate == pytest.approx(5 / 18 - 1 / 12)
    assert model_vs_holdout.difference == stats.difference_interval(5, 18, 1, 12)
    assert model_vs_holdout.lift.estimate == pytest.approx((5 / 18) / (1 / 12) - 1)
    assert (variant_vs_model.treated, variant_vs_model.reference) == ("variant", "model")

    # The model arms: 18 + 3 impressions, 2 of them entirely fallback, 1 mixed.
    assert report.model_arm_impressions == 21
    assert report.model_arm_sources == {"model": 18, "fallback": 2, "mixed": 1}
    assert report.fallback_rate == pytest.approx(2 / 21)
    assert report.fallback_reasons == [("timeout", 2), ("too_few_items", 1)]


def test_an_empty_period_has_no_comparison():
    report = build_report(days=7)
    assert report.rows == [] and report.comparisons == [] and report.fallback_rate is None


def cell(html: str, arm: str, column: str) -> str:
    row = re.search(rf'<tr data-arm="{arm}">(.*?)</tr>', html, re.S).group(1)
    return re.search(rf'<td class="{column}">([^<]*)</td>', row).group(1)


def test_the_report_page_shows_the_hand_counted_figures_to_staff(client, seeded):
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(admin)

    response = client.get(reverse(REPORT))

    assert response.status_code == 200
    html = response.content.decode()
    assert (cell(html, "model", "impressions"), cell(html, "model", "clicked")) == ("18", "5")
    assert cell(html, "model", "ctr") == "27.78%"
    assert (cell(html, "holdout", "impressions"), cell(html, "holdout", "ctr")) == ("12", "8.33%")
    difference = stats.difference_interval(5, 18, 1, 12)
    assert f"{difference.estimate * 100:+.2f} pp" in html
    assert f"{difference.low * 100:+.2f} pp to {difference.high * 100:+.2f} pp" in html
    assert re.search(r'<tr data-reason="timeout"><td>timeout</td><td>2</td></tr>', html)
    assert "9.52% of 21 model-arm impressions" in html
    # The chart is inline SVG, one line per arm, and nothing is loaded from elsewhere.
    svg = re.search(r'<svg[^>]*aria-label="Click-through rate.*?</svg>', html, re.S).group(0)
    assert re.findall(r'data-arm="(\w+)"><polyline', svg) == ["holdout", "model", "variant"]
    ElementTree.fromstring(svg)  # noqa: S314 - our own markup; well-formed, or browsers show nothing
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_the_changelist_links_to_the_report(client, seeded):
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(admin)
    response = client.get(reverse("admin:recommendations_impression_changelist"))
    assert reverse(REPORT) in response.content.decode()


def test_non_staff_are_sent_to_the_admin_login(client, seeded):
    customer = get_user_model().objects.create_user("shopper", password="pw")
    client.force_login(customer)
    response = client.get(reverse(REPORT))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    client.logout()
    assert client.get(reverse(REPORT)).status_code == 302


def test_staff_without_the_view_permission_get_403(client, seeded):
    clerk = get_user_model().objects.create_user("clerk", password="pw", is_staff=True)
    client.force_login(clerk)
    assert client.get(reverse(REPORT)).status_code == 403
    clerk.user_permissions.add(Permission.objects.get(codename="view_impression"))
    clerk = get_user_model().objects.get(pk=clerk.pk)  # drop the cached permissions
    client.force_login(clerk)
    assert client.get(reverse(REPORT)).status_code == 200
