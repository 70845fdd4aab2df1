"""The demo shop's WSGI application, with the process that answered in an `X-Served-By` header.

bench/chaos.py kills gunicorn workers; the header tells it which pages a killed worker served, so
that the events it lost with its memory are told apart from any other loss.
"""

import os
from collections.abc import Callable, Iterable
from typing import Any

from demo_shop.wsgi import application as shop_application


def application(environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
    """The shop's answer, with this worker's process id added."""

    def start_with_pid(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
        return start_response(status, [*headers, ("X-Served-By", str(os.getpid()))], *args)

    return shop_application(environ, start_with_pid)
