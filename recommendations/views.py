"""The widget as a lazily loaded HTML fragment, and a JSON API: both for the current user only."""

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.views.decorators.http import require_GET

from .service import recommend

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
    recommendations = recommend(request, limit)
    return _private(
        render(
            request,
            "recommendations/widget.html",
            {"recommendations": recommendations, "title": title},
        )
    )


def _item_payload(item: Any) -> dict[str, Any]:
    return {
        "item_id": item.item_id,
        "position": item.position,
        "source": item.source,
        "name": item.name,
        "url": item.url,
        "price": None if item.price is None else str(item.price),
        "image_url": item.image_url,
    }


@require_GET
def recommendations_json(request: HttpRequest) -> HttpResponse:
    """The current user's recommendations as JSON."""
    try:
        limit = _parse_limit(request)
    except BadParameter as error:
        return _error(str(error))
    recommendations = recommend(request, limit)
    return _private(
        JsonResponse(
            {
                "items": [_item_payload(item) for item in recommendations.items],
                "source": recommendations.source,
                "model_version": recommendations.model_version,
                "request_id": recommendations.request_id,
            }
        )
    )
