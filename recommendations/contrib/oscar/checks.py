"""The check that the widget reaches Oscar's catalogue page (recommendations.W008).

The contrib app's `oscar/catalogue/browse.html` extends Oscar's own, and Django uses the first
template of a name it finds: the app's comes first only when `recommendations.contrib.oscar` is
listed before Oscar's `oscar.config.Shop`. A project's own `templates/oscar/catalogue/browse.html` (in
`TEMPLATES["DIRS"]`) wins over both; it includes `recommendations/oscar/widget.html` itself.
"""

from pathlib import Path
from typing import Any

from django.core.checks import CheckMessage, Tags, Warning, register
from django.template import TemplateDoesNotExist
from django.template.loader import get_template

BROWSE_TEMPLATE = "oscar/catalogue/browse.html"


@register(Tags.templates)
def check_browse_template(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when `/` renders Oscar's own browse.html, which has no widget."""
    import oscar

    try:
        origin = Path(get_template(BROWSE_TEMPLATE).origin.name)
    except (TemplateDoesNotExist, AttributeError):
        return []  # no Oscar templates: Django's own checks and pages say so
    if Path(oscar.__file__).parent not in origin.parents:
        return []  # the contrib app's, or the project's own
    return [
        Warning(
            f"The catalogue page renders Oscar's own {BROWSE_TEMPLATE}: the recommendations "
            "widget does not show on '/'.",
            hint="List 'recommendations.contrib.oscar' before Oscar's 'oscar.config.Shop' in "
            "INSTALLED_APPS, or include 'recommendations/oscar/widget.html' in your own "
            "browse.html.",
            id="recommendations.W008",
        )
    ]
