"""Kept product cards (recommendations/serving/rendering.py): the same HTML as a fresh render, each
impression's own click links, and a product's described change shown at once."""

import re
from dataclasses import replace
from decimal import Decimal
from html import unescape

import pytest
from django.template import TemplateSyntaxError
from django.test import override_settings
from django.test.signals import template_rendered

from recommendations.catalog import CatalogAdapter
from recommendations.service import Recommendations, RecommendedItem
from recommendations.serving import rendering
from recommendations.templatetags.recommendations import recommended_for_you
from recommendations.tracking import clicks
from recommendations.tracking.impressions import track_widget

TRACKED = {"TRACKING": True, "EVENT_FLUSH_INTERVAL": 60.0, "CURRENCY": "EUR"}
HREF = re.compile(r'<a class="name" href="([^"]+)"')


@pytest.fixture(autouse=True)
def no_kept_cards():
    rendering.forget_cards()
    yield
    rendering.forget_cards()


def renders_of(template_name: str):
    """Record each render of `template_name` while the test runs (a fixture's body)."""
    names: list[str] = []

    def record(sender, template, context, **kwargs):
        if template.name == template_name:
            names.append(template.name)

    template_rendered.connect(record)
    yield names
    template_rendered.disconnect(record)


@pytest.fixture
def rendered_cards():
    """The card templates rendered while the test runs."""
    yield from renders_of(rendering.CARD_TEMPLATE)


def make_recommendations(names=("Teapot", "Kettle", "Mug"), prices=None) -> Recommendations:
    prices = prices or [Decimal("9.50")] * len(names)
    items = [
        RecommendedItem(
            product=None,
            item_id=str(position),
            position=position,
            source="model",
            name=name,
            url=f"/products/p{position}/",
            price=price,
            # As the service gives it: the default adapter's format, in the tests' CURRENCY.
            price_display=CatalogAdapter().format_price(None, price),
            image_url=f"/products/p{position}/image.svg",
        )
        for position, (name, price) in enumerate(zip(names, prices, strict=True), start=1)
    ]
    return Recommendations(items=items, source="model", model_version="v1", request_id="r" * 32)


def tracked(recommendations: Recommendations, request_id: str) -> Recommendations:
    """Give the items click links, as the tag does when TRACKING is on (the caller turns it on)."""
    recommendations.request_id = request_id
    return track_widget(recommendations, None)


@override_settings(RECOMMENDATIONS=TRACKED)
def test_kept_cards_give_the_html_a_fresh_render_gives(rendered_cards):
    first = rendering.render_widget(tracked(make_recommendations(), "a" * 32), "For you")
    second_recs = tracked(make_recommendations(), "b" * 32)
    kept = rendering.render_widget(second_recs, "For you")
    assert len(rendered_cards) == 3  # the second widget reused all three cards
    with override_settings(RECOMMENDATIONS={**TRACKED, "CARD_CACHE_SECONDS": 0}):
        fresh = rendering.render_widget(second_recs, "For you")
    assert len(rendered_cards) == 6
    assert kept == fresh
    assert kept != first
    assert rendering.TOKEN_MARKER not in kept


@override_settings(RECOMMENDATIONS=TRACKED)
def test_each_impression_gets_links_with_its_own_token(rf):
    for request_id in ("a" * 32, "b" * 32):
        html = rendering.render_widget(tracked(make_recommendations(), request_id), "For you")
        links = [unescape(href) for href in HREF.findall(html)]
        assert len(links) == 3
        for position, link in enumerate(links, start=1):
            token, _, number = link.rstrip("/").rpartition("/")
            target = clicks.read(token.rpartition("/")[2], int(number))
            assert target.request_id == request_id
            assert target.position == position
            assert target.item_id == str(position)


@override_settings(RECOMMENDATIONS=TRACKED)
def test_a_new_price_or_name_shows_at_once(rendered_cards):
    rendering.render_widget(tracked(make_recommendations(), "a" * 32), "For you")
    changed = make_recommendations(
        names=("Teapot", "Kettle (new)", "Mug"),
        prices=[Decimal("9.50"), Decimal("9.50"), Decimal("4.99")],
    )
    html = rendering.render_widget(tracked(changed, "b" * 32), "For you")
    assert "Kettle (new)" in html
    assert "€4.99" in html
    assert "€9.50" in html
    assert len(rendered_cards) == 5  # three, then the two changed ones


def test_names_with_markup_stay_escaped_in_kept_cards():
    names = ("<script>alert(1)</script>", '"onmouseover="alert(1)', "Mug & Saucer")
    rendering.render_widget(make_recommendations(names=names), "For you")
    html = rendering.render_widget(make_recommendations(names=names), "For you")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '"onmouseover=' not in html
    assert "Mug &amp; Saucer" in html


@override_settings(RECOMMENDATIONS={"CARD_CACHE_SECONDS": 0})
def test_no_kept_cards_when_switched_off(rendered_cards):
    for _ in range(2):
        rendering.render_widget(make_recommendations(), "For you")
    assert len(rendered_cards) == 6
    assert rendering._cards == {}


@override_settings(RECOMMENDATIONS=TRACKED)
def test_an_untracked_card_is_kept_apart_from_a_tracked_one():
    plain = rendering.render_widget(make_recommendations(), "For you")  # no click links
    with_links = rendering.render_widget(tracked(make_recommendations(), "c" * 32), "For you")
    assert 'href="/products/p1/"' in plain
    assert 'href="/products/p1/"' not in with_links
    assert 'rel="nofollow"' in with_links and 'rel="nofollow"' not in plain


def test_a_card_is_not_kept_when_its_link_does_not_carry_the_token():
    recommendations = make_recommendations()
    recommendations.items = [
        replace(item, click_url="/elsewhere/") for item in recommendations.items
    ]
    recommendations.click_token = "abc"
    html = rendering.render_widget(recommendations, "For you")
    assert 'href="/elsewhere/"' in html
    assert rendering._cards == {}


def test_a_broken_card_template_leaves_the_page_without_the_widget(rf, monkeypatch, caplog):
    def broken(item):
        raise TemplateSyntaxError("broken override")

    monkeypatch.setattr(rendering, "_render", broken)
    monkeypatch.setattr(
        "recommendations.templatetags.recommendations._recommend_for_context",
        lambda context, limit: make_recommendations(),
    )
    assert recommended_for_you({"request": rf.get("/")}) == ""
    assert "failed to render" in caplog.text


@pytest.fixture
def rendered_frames():
    """The frame templates rendered while the test runs."""
    yield from renders_of(rendering.WIDGET_TEMPLATE)


@override_settings(RECOMMENDATIONS=TRACKED)
def test_a_kept_frame_gives_each_page_its_own_request_id(rendered_frames):
    pages = {}
    for request_id in ("a" * 32, "b" * 32, "c" * 32):
        recommendations = tracked(make_recommendations(), request_id)
        pages[request_id] = rendering.render_widget(recommendations, "For you")
    assert len(rendered_frames) == 1
    with override_settings(RECOMMENDATIONS={**TRACKED, "CARD_CACHE_SECONDS": 0}):
        fresh = rendering.render_widget(recommendations, "For you")
    assert pages["c" * 32] == fresh
    for request_id, html in pages.items():
        assert f'data-request-id="{request_id}"' in html
        assert f'aria-labelledby="recommendations-{request_id}"' in html
        assert rendering.REQUEST_MARKER not in html and rendering.CARDS_MARKER not in html


@override_settings(RECOMMENDATIONS=TRACKED)
def test_a_frame_is_kept_apart_by_what_it_shows(rendered_frames):
    model = tracked(make_recommendations(), "a" * 32)
    rendering.render_widget(model, "For you")
    mixed = tracked(make_recommendations(), "b" * 32)
    mixed.source, mixed.model_version = "mixed", "v2"
    html = rendering.render_widget(mixed, "For you")
    other_title = rendering.render_widget(tracked(make_recommendations(), "c" * 32), "Try these")
    assert len(rendered_frames) == 3
    assert 'data-source="mixed"' in html and 'data-model-version="v2"' in html
    assert ">Try these</h2>" in other_title
