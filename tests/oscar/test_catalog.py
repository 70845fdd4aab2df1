"""OscarCatalog against Oscar's models: what may be shown, and what the widget shows of it."""

from decimal import Decimal

import numpy as np
import pytest

pytestmark = pytest.mark.django_db


def wire_ids(*products) -> set[str]:
    return {str(product.pk) for product in products}


def test_available_products_are_public_non_parents_with_stock_left(catalog, make_product):
    from oscar.test.factories import create_product, create_stockrecord

    in_stock = make_product("In stock")
    sold_out = make_product("Sold out", stock=0)
    allocated = make_product("All allocated", stock=2)
    allocated.stockrecords.update(num_allocated=2)
    no_count = make_product("No stock count", stock=None, upc="no-count")
    hidden = make_product("Not public", is_public=False)
    no_record = create_product(title="No stock record")
    parent = create_product(title="T-shirt", structure="parent")
    child = make_product("T-shirt, blue", parent=parent)
    create_stockrecord(parent, num_in_stock=5)  # a parent is never bought, stock or not
    private_parent = create_product(title="Hidden", structure="parent", is_public=False)
    child_of_private = make_product("Hidden, red", parent=private_parent)
    untracked = make_product("E-book", stock=0, product_class="Downloads")
    untracked.get_product_class().__class__.objects.filter(name="Downloads").update(
        track_stock=False
    )

    shown = wire_ids(*catalog.available_products())

    assert shown == wire_ids(in_stock, child, untracked)
    assert not shown & wire_ids(
        sold_out, allocated, no_count, hidden, no_record, parent, private_parent, child_of_private
    )


def test_the_shops_strategy_has_the_last_word_on_the_page(catalog, make_product):
    from oscar.test.factories import create_stockrecord

    # Oscar's default strategy sells from the first stock record only: this one has none left,
    # though a second record has stock (which the SQL filter alone would accept).
    first_empty = make_product("First record empty", stock=0)
    create_stockrecord(first_empty, num_in_stock=3, partner_name="Other")
    buyable = make_product("Buyable")

    assert str(first_empty.pk) in wire_ids(*catalog.available_products())
    found = catalog.products_for_item_ids([str(first_empty.pk), str(buyable.pk)])
    assert set(found) == {str(buyable.pk)}


def test_describe_reads_title_price_currency_and_image_the_oscar_way(catalog, make_product):
    from oscar.test.factories import ProductImageFactory, create_product

    parent = create_product(title="Mug", structure="parent")
    child = make_product("", price="1234.50", parent=parent)
    plain = make_product("Plain", price="3.00")
    ProductImageFactory(product=plain)

    products = catalog.products_for_item_ids([str(child.pk), str(plain.pk)])
    by_id = dict(zip(products, catalog.describe_all(list(products.values())), strict=True))
    mug, picture = by_id[str(child.pk)], by_id[str(plain.pk)]

    assert mug["name"] == "Mug"  # get_title(): the child has none, its parent's
    assert mug["price"] == Decimal("1234.50")
    assert mug["currency"] == "GBP"  # the stock record's, through the strategy
    assert mug["price_display"] == "£1,234.50"  # Oscar's currency filter, en-gb
    assert mug["url"] == child.get_absolute_url()
    assert mug["image_url"] == "/media/image_not_found.jpg"  # Oscar's placeholder
    assert picture["image_url"].startswith("/media/images/products/")
    assert picture["image_url"] == plain.primary_image().original.url
    assert catalog.format_price(plain, Decimal("3")) == "£3.00"
    assert catalog.currency(plain) == "GBP"


def test_a_pages_products_cost_the_same_queries_however_many(
    catalog, make_product, django_assert_num_queries
):
    from oscar.test.factories import ProductImageFactory, create_product

    def load_and_describe(count: int) -> None:
        products = [make_product(f"Product {count}-{n}") for n in range(count)]
        parent = create_product(title=f"Parent {count}", structure="parent", upc=f"parent-{count}")
        ProductImageFactory(product=parent)
        products.append(make_product("", parent=parent))  # its title and image are the parent's
        # Products with their class and parent, stock records, images, the parents' images.
        with django_assert_num_queries(4):
            found = catalog.products_for_item_ids([str(p.pk) for p in products])
            described = catalog.describe_all(list(found.values()))
        assert len(found) == count + 1
        assert {card["name"] for card in described} >= {f"Parent {count}"}

    load_and_describe(2)
    load_and_describe(12)


def test_purchases_history_and_interactions_come_from_order_lines(
    catalog, make_product, customer, buy
):
    from datetime import timedelta

    from django.utils import timezone
    from oscar.test.factories import UserFactory

    book, pen, lamp = make_product("Book"), make_product("Pen"), make_product("Lamp")
    other = UserFactory(email="other@example.com", username="other")
    first = buy(customer, book, pen, quantity=2)
    second = buy(customer, lamp)
    buy(other, pen)
    buy(None, lamp)  # a guest's order: nobody's history

    assert catalog.purchased_item_ids(customer.pk) == wire_ids(book, pen, lamp)
    assert catalog.purchased_item_ids_for([customer.pk, other.pk, 999]) == {
        customer.pk: wire_ids(book, pen, lamp),
        other.pk: wire_ids(pen),
        999: set(),
    }
    history = catalog.user_history(customer.pk, recent_limit=2)
    # The newest order first; within an order, the line added last.
    assert history.recent == [str(lamp.pk), str(pen.pk)]
    assert history.purchased == wire_ids(book, pen, lamp)
    assert catalog.recent_item_ids(customer.pk, 1) == [str(lamp.pk)]

    an_hour_ago = timezone.now() - timedelta(hours=1)
    assert catalog.active_user_ids(an_hour_ago) == sorted([customer.pk, other.pk])
    assert catalog.active_user_id_page(an_hour_ago, after=min(customer.pk, other.pk), limit=5) == [
        max(customer.pk, other.pk)
    ]
    assert catalog.active_user_ids(timezone.now() + timedelta(hours=1)) == []

    (chunk,) = list(catalog.interaction_chunks())
    assert chunk.user_ids.dtype == np.int64 and chunk.item_ids.dtype == np.int64
    assert chunk.weights.dtype == np.float32 and chunk.timestamps.dtype == np.float64
    assert list(zip(chunk.user_ids, chunk.item_ids, chunk.weights, strict=True)) == [
        (customer.pk, book.pk, 2.0),
        (customer.pk, pen.pk, 2.0),
        (customer.pk, lamp.pk, 1.0),
        (other.pk, pen.pk, 1.0),
    ]
    assert chunk.timestamps[0] == pytest.approx(first.date_placed.timestamp(), abs=1e-3)
    assert chunk.timestamps[2] == pytest.approx(second.date_placed.timestamp(), abs=1e-3)

    keyed = list(catalog.interaction_chunks_after(0, chunk_size=3))
    assert [len(part.ids) for part in keyed] == [3, 1]
    assert (
        keyed[0].ids.dtype == np.int64
        and (np.diff(np.concatenate([k.ids for k in keyed])) > 0).all()
    )
    after_two = list(catalog.interaction_chunks_after(int(keyed[0].ids[1])))
    assert [list(part.interactions.item_ids) for part in after_two] == [[lamp.pk, pen.pk]]


def test_item_categories_give_a_child_its_parents_category(catalog, make_product):
    from oscar.test.factories import CategoryFactory, create_product

    shirts = CategoryFactory(name="Shirts")
    parent = create_product(title="Shirt", structure="parent")
    parent.categories.add(shirts)
    child = make_product("Shirt, red", parent=parent)

    assert catalog.item_categories()[child.pk] == shirts.pk
