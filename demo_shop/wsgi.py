"""WSGI entry point of the demo shop.

After Django is set up, each web process builds what it would otherwise build on its first
requests (the boto3 client, the URL resolver) and then moves everything it holds into Python's
permanent generation (`gc.freeze()`). Without that, every full garbage collection walks Django's,
botocore's and numpy's ~130k start-up objects: about 70 ms on this machine, during which every
thread of the process stands still, so a page that meets one takes 70 ms longer than its own work
and its endpoint wait. A shop adopting the app should do the same in its own wsgi.py (see README,
"When the cloud side misbehaves"); it changes nothing but when memory of start-up objects is
looked at, and they live as long as the process anyway.
"""

import gc
import logging
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_shop.settings")

application = get_wsgi_application()


def _prepare_process() -> None:
    from django.urls import get_resolver

    from recommendations.backends import get_backend
    from recommendations.exceptions import EndpointError

    get_resolver().url_patterns  # noqa: B018 - imports and compiles the URL patterns
    try:
        get_backend().warm_up("page")
    except EndpointError as error:  # misconfigured: `manage.py check` says more
        logging.getLogger(__name__).warning("Endpoint client not built: %s", error.reason)
    gc.collect()
    gc.freeze()


_prepare_process()
