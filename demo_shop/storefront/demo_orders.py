"""The shape of the demo's orders: lines per customer, orders of one to four lines, their times."""

import numpy as np

HISTORY_SECONDS = 182 * 86_400  # orders are spread over the last ~6 months
ORDER_SIZES = np.array([1, 2, 3, 4])
ORDER_SIZE_WEIGHTS = np.array([0.45, 0.30, 0.15, 0.10])


def lines_per_customer(customers: int, lines: int, rng: np.random.Generator) -> np.ndarray:
    """How many lines each customer bought: everyone at least one, the rest by a skewed activity."""
    activity = rng.lognormal(0.0, 0.9, size=customers)
    activity /= activity.sum()
    if lines >= customers:
        return 1 + rng.multinomial(lines - customers, activity)
    return rng.multinomial(lines, activity)


def expected_line_share() -> float:
    """The chance that one line picked at random from an order is a given one: E[1 / size]."""
    weights = ORDER_SIZE_WEIGHTS / ORDER_SIZE_WEIGHTS.sum()
    return float((weights / ORDER_SIZES).sum())


def order_boundaries(
    customer_lines: np.ndarray, products: int, rng: np.random.Generator
) -> np.ndarray:
    """Index of each order's first line, plus the total, cutting lines into orders of 1-4."""
    total = int(customer_lines.sum())
    largest = min(len(ORDER_SIZES), products)  # an order never holds the same product twice
    weights = ORDER_SIZE_WEIGHTS[:largest] / ORDER_SIZE_WEIGHTS[:largest].sum()
    sizes = rng.choice(ORDER_SIZES[:largest], size=total, p=weights)
    ends = np.cumsum(sizes)
    starts = np.zeros(total, dtype=bool)
    starts[0] = True
    starts[ends[ends < total]] = True
    # A customer's first line always starts an order: orders never mix customers.
    customer_starts = np.cumsum(customer_lines)[:-1]
    starts[customer_starts[customer_starts < total]] = True
    return np.append(np.flatnonzero(starts), total)


def order_of_lines(order_first_line: np.ndarray) -> np.ndarray:
    """The order index of every line."""
    lengths = np.diff(order_first_line)
    return np.repeat(np.arange(len(lengths)), lengths)


def order_times(
    order_customer: np.ndarray,
    joined_seconds_ago: np.ndarray,
    order_first_line: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Seconds before now of each order; a customer's orders are oldest first."""
    window = np.minimum(joined_seconds_ago, HISTORY_SECONDS)[order_customer]
    seconds_ago = rng.integers(0, window)
    # Orders of one customer are contiguous: sort within each customer, oldest (largest) first.
    order = np.lexsort((-seconds_ago, order_customer))
    return seconds_ago[order]


def duplicates(line_product: np.ndarray, line_order: np.ndarray, products: int) -> np.ndarray:
    """True for every line whose product appeared earlier in the same order."""
    key = line_order.astype(np.int64) * products + line_product
    order = np.argsort(key, kind="stable")
    repeated = np.zeros(len(key), dtype=bool)
    repeated[order[1:]] = key[order[1:]] == key[order[:-1]]
    return repeated


def chronological_order(
    order_seconds_ago: np.ndarray, order_first_line: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order permutation, new first lines, line permutation) that put orders oldest first."""
    order = np.argsort(-order_seconds_ago, kind="stable")
    lengths = np.diff(order_first_line)[order]
    starts = order_first_line[:-1][order]
    new_first = np.concatenate(([0], np.cumsum(lengths)))
    line_index = np.repeat(starts - new_first[:-1], lengths) + np.arange(int(lengths.sum()))
    return order, new_first, line_index
