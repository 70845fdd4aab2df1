"""The app in a django-oscar shop, with settings alone (docs/oscar.md).

    pip install "django-hybrid-recommendations[oscar]"

    INSTALLED_APPS = ["recommendations", "recommendations.contrib.oscar", *INSTALLED_APPS]
    RECOMMENDATIONS = {"CATALOG": "recommendations.contrib.oscar.catalog.OscarCatalog", ...}

`catalog.OscarCatalog` reads Oscar's products, stock records, strategy and order lines;
`receivers` turns Oscar's `order_placed` into `purchase_completed`; the app's
`oscar/catalogue/browse.html` puts the widget on the catalogue page that Oscar renders at `/`.
"""

try:
    import oscar  # noqa: F401
except ImportError as err:  # pragma: no cover - the message is the point
    raise ImportError(
        'recommendations.contrib.oscar needs django-oscar: pip install "django-hybrid-recommendations[oscar]"'
    ) from err
