"""Signed click links: what a widget link carries, and where a click may lead.

Each impression gets one `django.core.signing` token (its own salt, a timestamp) carrying the
impression's request id, arm, source, variant and the ids of the items it showed; each item's
link is `recommendations:click` with that token and the item's position. One signature per widget
keeps the page's cost down; another position only picks another item the impression showed.

The token is bound to its viewer by a hash of the request id and the viewer's pseudonym (never the
pseudonym itself), or an empty binding for an anonymous visitor; a click counts only when the
clicker is that viewer (`shown_to`), and anyone else is led to the product uncounted. The token
carries no URL: the destination is the product's own URL, which must be on this site. See
docs/security.md, "Click links are bound to their viewer".
"""

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.core import signing
from django.http import HttpRequest
from django.urls import get_script_prefix, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from ..cache import local_state
from ..catalog import get_catalog
from ..conf import app_settings
from ..products.keys import product_pk
from .pseudonyms import pseudonyms_of

SALT = "recommendations.click"


class BadClickToken(Exception):
    """The token was tampered with, truncated, signed with another key, or has no such position."""


class ExpiredClickToken(Exception):
    """A genuine token older than CLICK_MAX_AGE: it may lead to the product, but is not counted."""

    def __init__(self, target: "ClickTarget") -> None:
        super().__init__("click token expired")
        self.target = target


@dataclass(frozen=True)
class ImpressionStamp:
    """What every link of one impression carries, signed once."""

    request_id: str
    arm: str
    source: str
    variant: str
    item_ids: tuple[str, ...]
    viewer: str = ""  # the viewer's pseudonym; "" for an anonymous visitor


@dataclass(frozen=True)
class ClickTarget:
    """What a followed link says: which impression, which item in which position, and its arm."""

    request_id: str
    item_id: str
    position: int
    arm: str
    source: str
    variant: str = ""
    # Hash of the request id and the viewer's pseudonym; "" anonymous; None: a link signed before
    # links were bound, which nobody can be shown to have seen.
    viewer_binding: str | None = None

    @property
    def click_id(self) -> str:
        """One id per item of an impression: clicking it twice counts once."""
        return hashlib.sha256(f"{self.request_id}:{self.item_id}".encode()).hexdigest()[:32]


def sign(stamp: ImpressionStamp) -> str:
    """The URL-safe signed token of an impression: `<payload>:<timestamp>:<signature>`.

    The payload is the stamp as compact JSON in URL-safe base64 without padding, signed with a
    `TimestampSigner` kept per process (what `signing.dumps` does, without its zlib pass and the
    objects it builds per call: a quarter of the cost on every tracked page).
    """
    payload = [
        stamp.request_id,
        stamp.arm,
        stamp.source,
        stamp.variant,
        list(stamp.item_ids),
        viewer_binding(stamp.request_id, stamp.viewer),
    ]
    data = json.dumps(payload, separators=(",", ":")).encode()
    return _signer().sign(base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii"))


@lru_cache(maxsize=1)
def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=SALT)  # SECRET_KEY and its fallbacks, read once


def _payload(value: str) -> Any:
    try:
        data = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise BadClickToken("unreadable payload") from None


def viewer_binding(request_id: str, viewer: str) -> str:
    """What a token carries for its viewer: a hash of the impression and pseudonym ("" anonymous)."""
    if not viewer:
        return ""
    # The request id makes each link's binding different: links cannot be linked to each other.
    return hashlib.sha256(f"recommendations-viewer:{request_id}:{viewer}".encode()).hexdigest()[:32]


def _stamp(payload: Any) -> tuple[ImpressionStamp, str | None]:
    # Five fields: a link signed before links were bound to their viewer (valid for CLICK_MAX_AGE).
    if not (isinstance(payload, list) and len(payload) in (5, 6)):
        raise BadClickToken("unexpected payload")
    request_id, arm, source, variant, item_ids, *binding = payload
    if not (
        all(isinstance(v, str) for v in (request_id, arm, source, variant, *binding))
        and isinstance(item_ids, list)
        and all(isinstance(i, str) for i in item_ids)
    ):
        raise BadClickToken("unexpected payload")
    stamp = ImpressionStamp(request_id, arm, source, variant, tuple(item_ids))
    return stamp, (binding[0] if binding else None)


def _target(unsigned: tuple[ImpressionStamp, str | None], position: int) -> ClickTarget:
    stamp, binding = unsigned
    if not 1 <= position <= len(stamp.item_ids):
        raise BadClickToken("no item at this position")
    return ClickTarget(
        stamp.request_id,
        stamp.item_ids[position - 1],
        position,
        stamp.arm,
        stamp.source,
        stamp.variant,
        binding,
    )


def read(token: str, position: int, max_age: float | None = None) -> ClickTarget:
    """The target of a link; raises BadClickToken or ExpiredClickToken."""
    max_age = float(app_settings.CLICK_MAX_AGE) if max_age is None else max_age
    try:
        value = _signer().unsign(token, max_age=max_age)
    except signing.SignatureExpired:
        # The signature is ours, only old: its item ids can still be trusted to find a product.
        unsigned = _stamp(_payload(_signer().unsign(token)))
        raise ExpiredClickToken(_target(unsigned, position)) from None
    except signing.BadSignature:
        raise BadClickToken("bad signature") from None
    return _target(_stamp(_payload(value)), position)


def shown_to(target: ClickTarget, request: HttpRequest) -> bool:
    """Whether whoever follows the link is whom its impression was shown to."""
    if target.viewer_binding is None:
        return False
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return target.viewer_binding == ""
    if target.viewer_binding == "":
        return False
    # Every key: a link shown just before PSEUDONYM_KEY changed still counts for its viewer.
    carried = target.viewer_binding.encode()
    return any(
        hmac.compare_digest(carried, viewer_binding(target.request_id, known_as).encode())
        for known_as in pseudonyms_of(user.pk)
    )


def links(stamp: ImpressionStamp, token: str) -> list[str]:
    """The click link of each item of the impression, whose `sign()` is `token`, in position order."""
    # One reverse() for the whole widget: the links differ only in their last segment.
    base = _link_template(get_script_prefix()).replace(_LINK_MARK, token)
    return [f"{base}{position}/" for position in range(1, len(stamp.item_ids) + 1)]


_LINK_MARK = "token-placeholder"


def _forget_link_templates(**kwargs: Any) -> None:
    _link_template.cache_clear()  # ROOT_URLCONF may have changed (tests)
    _signer.cache_clear()  # and SECRET_KEY


local_state.register("click_links", drop=_forget_link_templates)


@lru_cache(maxsize=8)
def _link_template(script_prefix: str) -> str:
    """The click URL up to the position, with a placeholder token: one reverse() per prefix."""
    first = reverse("recommendations:click", kwargs={"token": _LINK_MARK, "position": 1})
    return first[: -len("1/")]


def destination(item_id: str, request: HttpRequest) -> str | None:
    """The product's URL on this site, or None when there is no such product or it points away."""
    catalog = get_catalog()
    # The adapter's key checked against the column: one it cannot hold is no product.
    pk = product_pk(catalog.get_product_model(), catalog.pk_from_item_id(item_id))
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
