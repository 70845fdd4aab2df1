"""Signed click links: what a widget link carries, and where a click may lead.

A link is `recommendations:click` with a `django.core.signing` token (an HMAC keyed with
SECRET_KEY, a salt of its own and a timestamp) that carries the impression's request id, the item,
its position and the impression's arm, source and variant. The token carries no URL: the
destination is the product's own URL from the catalog adapter, and it must be on this site
(`url_has_allowed_host_and_scheme`), so no token, forged or genuine, can send anyone elsewhere.

The link is a plain GET: it changes nothing but a counter, and nobody can make one up (it is
signed), so it needs no CSRF token and works from any page, cached or not.
"""

import hashlib
from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from .catalog import get_catalog
from .conf import app_settings

SALT = "recommendations.click"


class BadClickToken(Exception):
    """The token was tampered with, truncated, or signed with another key."""


class ExpiredClickToken(Exception):
    """A genuine token older than CLICK_MAX_AGE: it may lead to the product, but is not counted."""

    def __init__(self, target: "ClickTarget") -> None:
        super().__init__("click token expired")
        self.target = target


@dataclass(frozen=True)
class ClickTarget:
    """What a click link says: which impression, which item in which position, and its arm."""

    request_id: str
    item_id: str
    position: int
    arm: str
    source: str
    variant: str = ""

    @property
    def click_id(self) -> str:
        """One id per item of an impression: clicking it twice counts once."""
        return hashlib.sha256(f"{self.request_id}:{self.item_id}".encode()).hexdigest()[:32]


def sign(target: ClickTarget) -> str:
    """The URL-safe signed token for `target`."""
    payload = [
        target.request_id,
        target.item_id,
        target.position,
        target.arm,
        target.source,
        target.variant,
    ]
    return signing.dumps(payload, salt=SALT)


def _target(payload: Any) -> ClickTarget:
    if not (isinstance(payload, list) and len(payload) == 6):
        raise BadClickToken("unexpected payload")
    request_id, item_id, position, arm, source, variant = payload
    if not (
        all(isinstance(v, str) for v in (request_id, item_id, arm, source, variant))
        and isinstance(position, int)
        and not isinstance(position, bool)
    ):
        raise BadClickToken("unexpected payload")
    return ClickTarget(request_id, item_id, position, arm, source, variant)


def read(token: str, max_age: float | None = None) -> ClickTarget:
    """The target of a token; raises BadClickToken or ExpiredClickToken."""
    max_age = float(app_settings.CLICK_MAX_AGE) if max_age is None else max_age
    try:
        return _target(signing.loads(token, salt=SALT, max_age=max_age))
    except signing.SignatureExpired:
        # The signature is ours, only old: its item id can still be trusted to find the product.
        raise ExpiredClickToken(_target(signing.loads(token, salt=SALT))) from None
    except signing.BadSignature:
        raise BadClickToken("bad signature") from None


def link(target: ClickTarget) -> str:
    """The path of the click redirect for `target`."""
    return reverse("recommendations:click", kwargs={"token": sign(target)})


def destination(item_id: str, request: HttpRequest) -> str | None:
    """The product's URL on this site, or None when there is no such product or it points away."""
    catalog = get_catalog()
    pk = catalog.pk_from_item_id(item_id)
    if pk is None:
        return None
    # Any product, not only available ones: a link shown a minute ago may lead to a product that
    # just sold out, and its page says so better than a redirect home would.
    product = catalog.get_product_model()._default_manager.filter(pk=pk).first()
    if product is None:
        return None
    url = catalog.describe(product).get("url")
    if not url or not url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return None
    return str(url)
