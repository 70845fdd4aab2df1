"""`{% recommended_for_you %}` and `{% get_recommendations as recs %}`."""

import logging
from typing import Any

from django import template

from ..service import Recommendations, recommend
from ..serving.rendering import render_widget
from ..tracking.impressions import track_widget

logger = logging.getLogger(__name__)
register = template.Library()


def _recommend_for_context(context: template.Context, limit: int | None) -> Recommendations | None:
    request = context.get("request")
    if request is None:
        logger.warning("{% recommended_for_you %} needs the request context processor")
        return None
    try:
        return track_widget(recommend(request, limit), request)
    except Exception:
        # The widget must never break the host page: log it once and render nothing.
        logger.exception("Recommendations widget failed; rendering without it")
        return None


@register.simple_tag(takes_context=True)
def recommended_for_you(
    context: template.Context, limit: int | None = None, title: str = "Recommended for you"
) -> str:
    """Render the widget for the current user (templates `recommendations/widget.html`, `card.html`)."""
    try:
        return render_widget(_recommend_for_context(context, limit), title)
    except Exception:
        # An overridden template that fails must not break the host page either.
        logger.exception("Recommendations widget failed to render; rendering without it")
        return ""


@register.simple_tag(takes_context=True)
def get_recommendations(context: template.Context, limit: int | None = None) -> Any:
    """The current user's `Recommendations`, for custom markup: `{% get_recommendations as recs %}`."""
    return _recommend_for_context(context, limit)
