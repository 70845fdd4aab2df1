"""Which Oscar products the widget may show, and their price: Oscar's own rules, twice.

In SQL, for the fallback ranking, the exports and every page's one products query: public
products that are not parents (a parent is not bought, its children are), with a public parent
if they have one, and a stock record with stock left (`num_in_stock` above `num_allocated`),
or any stock record when their product class does not track stock. That is what Oscar's
`Default` strategy (`StockRequired` with `UseFirstStockRecord`) allows to buy, for the first
stock record of a product with one.

Then, on the page, the shop's own strategy (`partner.strategy.Selector`, forked or not) judges
each loaded product with the stock records and images loaded in the same batch: a strategy that
picks another stock record, or refuses products for reasons of its own, has the last word. The
strategy is chosen without a request (Oscar's "offline" call), as cards are shared by every
customer: a price that differs per customer is not shown on a card.
"""

from typing import Any

from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce
from oscar.core.loading import get_class, get_model

# Where a product loaded for a page keeps the strategy's answer, so `describe_all` reads the
# price the availability check saw.
PURCHASE_INFO = "_recommendations_purchase_info"


def available_products() -> QuerySet:
    """Public, non-parent products with a stock record Oscar's default strategy sells from."""
    product_model = get_model("catalogue", "Product")
    records = get_model("partner", "StockRecord").objects.filter(product=OuterRef("pk"))
    with_stock_left = records.filter(num_in_stock__gt=Coalesce(F("num_allocated"), 0))
    # A child's product class is its parent's (Product.get_product_class()).
    untracked = Q(product_class__track_stock=False) | Q(parent__product_class__track_stock=False)
    return (
        product_model._default_manager.filter(is_public=True)
        .exclude(structure=product_model.PARENT)
        .filter(Q(parent__isnull=True) | Q(parent__is_public=True))
        .filter(Exists(with_stock_left) | (untracked & Exists(records)))
    )


def for_widget(products: QuerySet) -> QuerySet:
    """`products` with what the strategy, the title and the image read, in one query per relation
    for the whole batch (never one per product)."""
    return products.select_related(
        "product_class", "parent", "parent__product_class"
    ).prefetch_related("stockrecords", "images", "parent__images")


def strategy() -> Any:
    """The shop's strategy for an offline caller (no request, no user)."""
    return get_class("partner.strategy", "Selector")().strategy()


def purchase_info(product: Any, chosen_strategy: Any) -> Any:
    """The strategy's `PurchaseInfo` for the product: the one the page's check kept, else new."""
    info = product.__dict__.get(PURCHASE_INFO)
    return info if info is not None else chosen_strategy.fetch_for_product(product)


def keep_buyable(products: dict[str, Any]) -> dict[str, Any]:
    """The products the strategy says can be bought now, each with its `PurchaseInfo` kept."""
    chosen_strategy = strategy()
    buyable = {}
    for item_id, product in products.items():
        info = chosen_strategy.fetch_for_product(product)
        if info.availability.is_available_to_buy:
            setattr(product, PURCHASE_INFO, info)
            buyable[item_id] = product
    return buyable


def shown_price(info: Any) -> tuple[Any, str | None]:
    """The amount a customer sees (with tax where the strategy knows it) and its currency, or
    (None, None) when the strategy gives no price."""
    price = info.price
    if not price.exists:
        return None, None
    return (price.incl_tax if price.is_tax_known else price.excl_tax), price.currency
