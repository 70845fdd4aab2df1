"""A big PostgreSQL shop for the benches, written with `COPY` (not the ORM), and dropped after.

    with throwaway_database("fallback_bench_10m") as url:     # createdb ... dropdb
        manage({**env, "DATABASE_URL": url}, "migrate")
        ...seed a catalog with seed_demo...
        copy_order_history(url, lines=10_000_000, customers=1_000_000)

The history has the demo's shape at a larger size: customers with a favourite category buy most
often from it, products within a category are Zipf-popular, 2.5 lines per order, orders spread
over two years. Customers, orders and lines are generated a block at a time with numpy and
streamed into COPY, so the bench process stays small however many lines it writes.
"""

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

HOST, PORT, USER = "127.0.0.1", 5432, "postgres"
BLOCK = 1_000_000  # rows generated and sent per COPY chunk
SPAN_SECONDS = 2 * 365 * 86_400
LINES_PER_ORDER = 2.5
LOYALTY = 0.7  # share of a customer's lines from their favourite category


def database_url(name: str) -> str:
    return f"postgres://{USER}@{HOST}:{PORT}/{name}"


@contextmanager
def throwaway_database(name: str) -> Iterator[str]:
    """Create database `name` (dropping a leftover of an earlier run first); drop it on exit."""
    common = ["-h", HOST, "-p", str(PORT), "-U", USER]
    subprocess.run(["dropdb", *common, "--if-exists", "--force", name], check=True)
    subprocess.run(["createdb", *common, name], check=True)
    try:
        yield database_url(name)
    finally:
        subprocess.run(["dropdb", *common, "--if-exists", "--force", name], check=False)


def copy_order_history(url: str, *, lines: int, customers: int, seed: int = 11) -> dict:
    """COPY `customers` users, their orders and `lines` order lines; counts and seconds."""
    import psycopg

    started = time.monotonic()
    rng = np.random.default_rng(seed)
    orders = max(1, round(lines / LINES_PER_ORDER))
    with psycopg.connect(url, autocommit=False) as connection:
        with connection.cursor() as cursor:
            # Foreign keys are the schema's; the generator only makes ids that exist. Skipping the
            # per-row trigger checks makes the COPY several times faster.
            cursor.execute("SET session_replication_role = replica")
            cursor.execute("SELECT id, category_id, price FROM catalog_product ORDER BY id")
            products = np.array(cursor.fetchall(), dtype=np.float64)
            first_user = _next_id(cursor, "auth_user")
            first_order = _next_id(cursor, "orders_order")
            first_line = _next_id(cursor, "orders_orderline")
        chooser = _ProductChooser(products, rng)
        favourite = rng.integers(0, chooser.categories, customers)
        _copy_users(connection, first_user, customers)
        order_user, order_seconds = _copy_orders(
            connection, rng, first_order, first_user, orders, customers
        )
        _copy_lines(connection, rng, chooser, first_line, first_order, lines, order_user, favourite)
        with connection.cursor() as cursor:
            for table in ("auth_user", "orders_order", "orders_orderline"):
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"(SELECT max(id) FROM {table}))"
                )
        connection.commit()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    return {
        "customers": customers,
        "orders": orders,
        "lines": lines,
        "seconds": time.monotonic() - started,
        "order_seconds_span": float(order_seconds),
    }


def _next_id(cursor, table: str) -> int:
    cursor.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}")  # noqa: S608
    return int(cursor.fetchone()[0])


class _ProductChooser:
    """Products by category, Zipf-popular within each: a line's product from its category."""

    def __init__(self, products: np.ndarray, rng: np.random.Generator) -> None:
        self.rng = rng
        self.ids = products[:, 0].astype(np.int64)
        self.price = products[:, 2]
        # Category primary keys as 0..n-1.
        _, categories = np.unique(products[:, 1].astype(np.int64), return_inverse=True)
        self.categories = int(categories.max()) + 1
        self.order = np.argsort(categories, kind="stable")
        self.starts = np.searchsorted(categories[self.order], np.arange(self.categories + 1))

    def choose(self, category: np.ndarray) -> np.ndarray:
        """A product position for each line of `category` (Zipf by position in the category)."""
        sizes = self.starts[category + 1] - self.starts[category]
        rank = np.minimum(self.rng.zipf(1.3, len(category)) - 1, np.maximum(sizes - 1, 0))
        return self.order[self.starts[category] + rank]


def _copy_users(connection, first: int, count: int) -> None:
    joined = "2024-01-01 00:00:00+00"
    with connection.cursor() as cursor:
        statement = (
            "COPY auth_user (id, password, is_superuser, username, first_name, last_name, email, "
            "is_staff, is_active, date_joined) FROM STDIN"
        )
        with cursor.copy(statement) as copy:
            for start in range(0, count, BLOCK):
                ids = range(first + start, first + min(count, start + BLOCK))
                copy.write(
                    "".join(f"{i}\t!\tf\tbench{i}\t\t\t\tf\tt\t{joined}\n" for i in ids).encode()
                )


def _copy_orders(connection, rng, first: int, first_user: int, count: int, customers: int):
    """Orders in time order; returns each order's customer index and the time span in seconds."""
    order_user = rng.integers(0, customers, count)
    now = time.time()
    seconds = np.sort(rng.uniform(now - SPAN_SECONDS, now, count))
    statement = "COPY orders_order (id, user_id, created_at, total) FROM STDIN"
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        for start in range(0, count, BLOCK):
            stop = min(count, start + BLOCK)
            stamps = seconds[start:stop]
            text = "".join(
                f"{first + start + n}\t{first_user + user}\t{_timestamp(stamp)}\t0\n"
                for n, (user, stamp) in enumerate(
                    zip(order_user[start:stop].tolist(), stamps.tolist(), strict=True)
                )
            )
            copy.write(text.encode())
    return order_user, seconds[-1] - seconds[0]


def _timestamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(epoch))


def _copy_lines(connection, rng, chooser, first, first_order, count, order_user, favourite):
    orders = len(order_user)
    with connection.cursor() as cursor:
        statement = (
            "COPY orders_orderline (id, order_id, product_id, quantity, unit_price) FROM STDIN"
        )
        with cursor.copy(statement) as copy:
            for start in range(0, count, BLOCK):
                size = min(count, start + BLOCK) - start
                # Lines spread over the orders in order: line i belongs to order about i / 2.5.
                order = np.minimum(
                    ((np.arange(start, start + size) + rng.random(size)) / LINES_PER_ORDER),
                    orders - 1,
                ).astype(np.int64)
                loyal = rng.random(size) < LOYALTY
                category = np.where(
                    loyal, favourite[order_user[order]], rng.integers(0, chooser.categories, size)
                )
                product = chooser.choose(category)
                quantity = rng.integers(1, 4, size)
                text = "".join(
                    f"{first + start + n}\t{first_order + o}\t{p}\t{q}\t{price:.2f}\n"
                    for n, (o, p, q, price) in enumerate(
                        zip(
                            order.tolist(),
                            chooser.ids[product].tolist(),
                            quantity.tolist(),
                            chooser.price[product].tolist(),
                            strict=True,
                        )
                    )
                )
                copy.write(text.encode())
