"""The widget as a lazily loaded HTML fragment, a JSON API (both for the current user only), and
the signed click redirect."""

import logging
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.utils.cache import add_never_cache_headers, patch_cache_control, patch_vary_headers
from django.views.decorators.http import require_GET

from .service import recommend
from .serving.rendering import render_widget
from .tracking import clicks, impressions

logger = logging.getLogger(__name__)

MAX_LIMIT = 50
# Parameters that would name another user: refused, the user always comes from the session.
USER_PARAMETERS = ("user", "user_id", "uid", "customer", "customer_id")


class BadParameter(ValueError):
    """A query parameter the views refuse; the message goes back to the client."""


def _parse_limit(request: HttpRequest) -> int | None:
    for name in USER_PARAMETERS:
        if name in request.GET:
            raise BadParameter(
                f"'{name}' is not accepted: recommendations are for the logged-in user."
            )
    raw = request.GET.get("limit")
    if raw is None or raw == "":
        return None
    try:
        limit = int(raw)
    except ValueError:
        raise BadParameter("'limit' must be an integer from 1 to 50.") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadParameter("'limit' must be an integer from 1 to 50.")
    return limit


def _private(response: HttpResponse) -> HttpResponse:
    patch_cache_control(response, private=True, max_age=0)
    patch_vary_headers(response, ["Cookie"])
    return response


def _error(message: str) -> HttpResponse:
    return _private(JsonResponse({"error": message}, status=400))


@require_GET
def widget_fragment(request: HttpRequest) -> HttpResponse:
    """The widget's HTML on its own, for pages that are cached whole and personalised lazily."""
    try:
        limit = _parse_limit(request)
    except BadParameter as error:
        return _error(str(error))
    title = request.GET.get("title", "Recommended for you")[:80]
    recommendations = impressions.track_widget(recommend(request, limit), request)
    return _private(HttpResponse(render_widget(recommendations, title)))


def _item_payload(item: Any) -> dict[str, Any]:
    return {
        "item_id": item.item_id,
        "position": item.position,
        "source": item.source,
        "name": item.name,
        "url": item.url,
        "price": None if item.price is None else str(item.price),
        "price_display": item.price_display,
        "currency": item.currency,
        "image_url": item.image_url,
        "click_url": item.click_url,
    }


@require_GET
def recommendations_json(request: HttpRequest) -> HttpResponse:
    """The current user's recommendations as JSON."""
    try:
        limit = _parse_limit(request)
    except BadParameter as error:
        return _error(str(error))
    recommendations = impressions.track_widget(recommend(request, limit), request)
    return _private(
        JsonResponse(
            {
                "items": [_item_payload(item) for item in recommendations.items],
                "source": recommendations.source,
                # "control": this visitor is in the arm that sees no widget (items is empty).
                "arm": recommendations.arm,
                "model_version": recommendations.model_version,
                "request_id": recommendations.request_id,
            }
        )
    )


@require_GET
def click(request: HttpRequest, token: str, position: int) -> HttpResponse:
    """Count a click on a widget link and send the visitor to the product, on this site only.

    A tampered token is a 400; an expired one, or one shown to somebody else, leads to the product
    without being counted; an item that is no product of this site (or whose URL points
    elsewhere) leads to the home page.
    """
    counted = False
    try:
        target = clicks.read(token, position)
    except clicks.BadClickToken:
        logger.info("Refused a click link with a bad signature", extra={"reason": "bad_signature"})
        response: HttpResponse = HttpResponse(
            "This link is broken.", status=400, content_type="text/plain"
        )
        add_never_cache_headers(response)
        return response
    except clicks.ExpiredClickToken as expired:
        target, expired_link = expired.target, True
    else:
        expired_link = False
    url = clicks.destination(target.item_id, request)
    if url is None:
        logger.info("Click link leads nowhere on this site", extra={"reason": "no_destination"})
        url = "/"
    elif expired_link:
        pass
    elif not clicks.shown_to(target, request):
        # A shared or forwarded link: it still leads to the product, but it is not this visitor's
        # interest in what was shown to someone else, so it must not count or train the model.
        logger.info("Click link shown to someone else", extra={"reason": "other_viewer"})
    else:
        counted = impressions.record_click(target, request)
    response = HttpResponseRedirect(url)
    # Never cached: each click must reach the server to be counted.
    add_never_cache_headers(response)
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["X-Click-Counted"] = "1" if counted else "0"
    return response
