"""manage.py seed_demo: the data set's shape, its determinism, and its refusals."""

import math
import random
from collections import Counter, defaultdict
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count, Max, Min
from django.utils import timezone

from demo_shop.catalog.models import Category, Product
from demo_shop.orders.models import Order, OrderLine
from demo_shop.storefront.demo_data import DemoParameters
from demo_shop.storefront.demo_loader import seeded_customers
from demo_shop.storefront.models import DemoSeed
from demo_shop.storefront.shopper_tastes import shopper_tastes
from tests.support.factories import make_customer, make_order, make_product

pytestmark = pytest.mark.django_db

# Topics of 10 products: the default 25 would make three topics of this catalogue.
SMALL = ["--products", "60", "--customers", "100", "--lines", "2000", "--topic-size", "10"]
TINY = ["--products", "24", "--customers", "10", "--lines", "120"]


@pytest.fixture(autouse=True)
def debug_on(settings):
    """seed_demo refuses to run without DEBUG, and pytest-django turns DEBUG off for tests."""
    settings.DEBUG = True


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def small_shop() -> str:
    return seed(*SMALL)


def lines_by_customer() -> dict[int, list[tuple]]:
    """user id -> [(created_at, category id, product id)], oldest first."""
    lines = defaultdict(list)
    rows = OrderLine.objects.order_by("order__created_at").values_list(
        "order__user_id", "order__created_at", "product__category_id", "product_id"
    )
    for user_id, created_at, category_id, product_id in rows:
        lines[user_id].append((created_at, category_id, product_id))
    return lines


def top_category(lines: list[tuple]) -> int:
    return Counter(category for _, category, _ in lines).most_common(1)[0][0]


def category_profile(lines: list[tuple]) -> Counter:
    return Counter(category for _, category, _ in lines)


def cosine(first: Counter, second: Counter) -> float:
    dot = sum(count * second[key] for key, count in first.items())
    norms = math.sqrt(sum(v * v for v in first.values()) * sum(v * v for v in second.values()))
    return dot / norms


def share_that_fits(tastes, bought: list[tuple[int, int]]) -> float:
    return sum(tastes.fit(user, [product])[0] > 0 for user, product in bought) / len(bought)


def test_seeded_customers_buy_mostly_what_suits_their_latent_tastes(small_shop):
    customers = list(seeded_customers())
    tastes = shopper_tastes(customers)
    by_customer = lines_by_customer()
    bought = [(c.pk, line[2]) for c in customers for line in by_customer.get(c.pk, [])]
    # The same lines dealt out to customers at random: what a shop without tastes would show.
    users = [user for user, _ in bought]
    random.Random(0).shuffle(users)
    dealt = [(user, product) for user, (_, product) in zip(users, bought, strict=True)]
    heavy = [lines for lines in by_customer.values() if len(lines) >= 10]
    categories = Category.objects.count()

    assert tastes.kind == "latent"
    assert share_that_fits(tastes, bought) > 0.5
    assert share_that_fits(tastes, bought) > 1.5 * share_that_fits(tastes, dealt)
    # Tastes differ between customers, so personal lists and the popularity list differ too.
    top_categories = {category_profile(lines).most_common(1)[0][0] for lines in heavy}
    assert len(heavy) >= 40
    assert len(top_categories) >= categories // 2


def test_seeded_tastes_hold_over_time_so_a_time_split_is_meaningful(small_shop):
    halves = [
        (category_profile(lines[: len(lines) // 2]), category_profile(lines[len(lines) // 2 :]))
        for lines in lines_by_customer().values()
        if len(lines) >= 8
    ]
    same = sum(cosine(early, late) for early, late in halves) / len(halves)
    # A customer's early purchases against the next customer's later ones.
    other = sum(
        cosine(early, late)
        for (early, _), (_, late) in zip(halves, halves[1:] + halves[:1], strict=True)
    ) / len(halves)

    assert len(halves) >= 20
    assert same > 1.3 * other


def test_seeded_item_popularity_has_a_long_tail_within_each_category(small_shop):
    sales = defaultdict(Counter)
    for category_id, product_id in OrderLine.objects.values_list("product__category_id", "product"):
        sales[category_id][product_id] += 1
    catalog = Counter(Product.objects.values_list("category_id", flat=True))

    # How much more than an even share of its category the best seller gets, averaged.
    lead = [
        counts.most_common(1)[0][1] / counts.total() * catalog[category_id]
        for category_id, counts in sales.items()
    ]
    assert sum(lead) / len(lead) > 1.6


def test_seeded_orders_spread_over_months_with_one_to_four_lines(small_shop):
    span = Order.objects.aggregate(first=Min("created_at"), last=Max("created_at"))
    sizes = set(Order.objects.annotate(n=Count("lines")).values_list("n", flat=True))

    assert span["last"] <= timezone.now()
    assert span["last"] - span["first"] > timedelta(days=120)
    assert sizes <= {1, 2, 3, 4}
    assert len(sizes) > 1
    # Order numbers grow with time, as in a shop that has been open for a while.
    by_pk = list(Order.objects.order_by("pk").values_list("created_at", flat=True))
    assert by_pk == sorted(by_pk)


def test_seeded_shop_has_the_requested_size_and_a_believable_catalog(small_shop):
    assert Category.objects.count() == 12
    assert Product.objects.count() == 60
    assert get_user_model().objects.filter(username__startswith="customer").count() == 100
    assert 1900 <= OrderLine.objects.count() <= 2000
    assert Product.objects.filter(stock=0).exists()
    assert Product.objects.filter(is_active=False).exists()
    available = Product.objects.available()
    assert available.count() >= 50
    assert min(available.values_list("stock", flat=True)) >= 100
    assert all(p.description and p.price > 0 for p in Product.objects.all())
    assert len(set(Product.objects.values_list("name", flat=True))) == 60
    for order in Order.objects.prefetch_related("lines")[:50]:
        assert order.total == sum(line.subtotal for line in order.lines.all())
    assert "Demo login: customer1 ... customer100, password demo-shop" in small_shop


def test_seeded_customers_and_admin_log_in_with_the_demo_password(small_shop, client):
    assert client.login(username="customer1", password="demo-shop")
    assert client.login(username="customer100", password="demo-shop")
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert client.login(username="admin", password="demo-shop")
    assert "Admin login: admin, password demo-shop" in small_shop


def snapshot() -> tuple[list, list]:
    """The data with database ids and the run's "now" left out: what the seed decides."""
    products = list(
        Product.objects.order_by("slug").values_list(
            "slug", "name", "description", "price", "stock", "is_active", "category__name"
        )
    )
    latest = Order.objects.aggregate(latest=Max("created_at"))["latest"]
    lines = sorted(
        (latest - created_at, username, slug, quantity, price)
        for created_at, username, slug, quantity, price in OrderLine.objects.values_list(
            "order__created_at", "order__user__username", "product__slug", "quantity", "unit_price"
        )
    )
    return products, lines


def test_same_seed_gives_the_same_data_and_another_seed_does_not():
    seed(*TINY, "--seed", "7")
    first = snapshot()
    seed(*TINY, "--seed", "7", "--reset")
    again = snapshot()
    seed(*TINY, "--seed", "8", "--reset")
    other = snapshot()

    assert first == again
    assert first[0] != other[0]
    assert first[1] != other[1]


def test_scale_multiplies_customers_and_lines():
    seed("--products", "24", "--customers", "10", "--lines", "100", "--scale", "2.5")

    assert get_user_model().objects.filter(username__startswith="customer").count() == 25
    assert 240 <= OrderLine.objects.count() <= 250


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--products", "0"], "--products must be at least 1"),
        (["--products", "-5"], "--products must be at least 1"),
        (["--customers", "0"], "--customers must be at least 1"),
        (["--lines", "-1"], "--lines must be at least 1"),
        (["--categories", "0"], "--categories must be at least 1"),
        (["--categories", "40"], "--categories must be at most 15"),
        (["--categories", "12", "--products", "5"], "cannot exceed --products"),
        (["--scale", "0"], "--scale must be greater than 0"),
        (["--scale", "-2"], "--scale must be greater than 0"),
        (["--scale", "0.00001"], "--customers must be at least 1"),
        (["--seed", "-1"], "--seed must be 0 or more"),
        (["--products", "many"], "invalid int value"),
        (["--reset", "--if-empty"], "contradict"),
        (["--topic-size", "0"], "--topic-size must be at least 1"),
        (["--taste-share", "1.5"], "--taste-share must be between 0 and 1"),
        (["--follow-up-rate", "-0.5"], "--follow-up-rate must be between 0 and 1"),
        (["--popularity-exponent", "-1"], "--popularity-exponent must be 0 or more"),
    ],
)
def test_nonsense_flags_raise_a_clear_command_error(flags, message):
    with pytest.raises(CommandError, match=message):
        seed(*flags)
    assert not Product.objects.exists()
    assert not get_user_model().objects.exists()


def test_running_again_without_reset_is_a_clear_error_and_changes_nothing():
    seed(*TINY)
    before = (Product.objects.count(), OrderLine.objects.count())

    with pytest.raises(CommandError, match=r"already has shop data.*--reset"):
        seed(*TINY, "--seed", "9")

    assert (Product.objects.count(), OrderLine.objects.count()) == before


def test_existing_products_alone_count_as_shop_data():
    make_product()

    with pytest.raises(CommandError, match="1 products"):
        seed(*TINY)


def test_if_empty_is_a_no_op_on_a_seeded_shop_and_seeds_an_empty_one():
    output = seed(*TINY, "--if-empty")
    assert Product.objects.count() == 24
    assert "Seeded" in output
    snapshot_before = snapshot()

    output = seed("--if-empty", "--seed", "99")

    assert "nothing to do" in output
    assert snapshot() == snapshot_before


def test_reset_replaces_shop_data_but_keeps_other_users():
    seed(*TINY)
    regular = make_customer(username="alice")
    make_order(regular, [Product.objects.first()])

    output = seed("--products", "30", "--customers", "5", "--lines", "40", "--reset")

    users = get_user_model().objects
    assert Product.objects.count() == 30
    assert users.filter(username__startswith="customer").count() == 5
    assert users.filter(username="alice").exists()
    assert users.filter(username="admin").count() == 1
    assert not Order.objects.filter(user=regular).exists()
    assert "admin existed already; password unchanged" in output


def test_refuses_to_run_with_debug_off_unless_forced(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match=r"DEBUG is off.*--force"):
        seed(*TINY)
    assert not Product.objects.exists()

    seed(*TINY, "--force")
    assert Product.objects.count() == 24


def test_the_generator_parameters_are_recorded_with_the_data_and_replaced_on_reset():
    seed(*TINY, "--seed", "7", "--topic-size", "9", "--repeat-share", "0.35", "--scale", "2")

    record = DemoParameters.from_record(DemoSeed.objects.get().parameters)
    assert record == DemoParameters(
        products=24, customers=20, lines=240, seed=7, topic_size=9, repeat_share=0.35
    )

    seed(*TINY, "--seed", "8", "--reset")
    assert DemoParameters.from_record(DemoSeed.objects.get().parameters).seed == 8


def test_behaviour_flags_change_the_orders_but_not_the_catalogue():
    seed(*TINY, "--seed", "7")
    first = snapshot()
    seed(*TINY, "--seed", "7", "--reset", "--follow-up-rate", "0", "--repeat-share", "0")
    other = snapshot()

    assert first[0] == other[0]
    assert first[1] != other[1]
