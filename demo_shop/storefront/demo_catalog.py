"""The demo catalog: categories, product names, descriptions, prices and stock."""

from dataclasses import dataclass

import numpy as np
from django.utils.text import slugify

from .demo_vocabulary import CLOSING_LINES, THEMES

OUT_OF_STOCK_SHARE = 0.03
INACTIVE_SHARE = 0.02
STOCK_RANGE = (150, 1200)  # high enough that a demo session does not sell out


@dataclass(frozen=True)
class CategoryRow:
    name: str
    slug: str
    hue: int


def assign_categories(
    products: int, categories: int, rng: np.random.Generator
) -> tuple[list[CategoryRow], np.ndarray]:
    """The first `categories` themes, and each product's category (about equal counts)."""
    rows = [CategoryRow(t.name, slugify(t.name), t.hue) for t in THEMES[:categories]]
    counts = np.full(categories, products // categories)
    counts[rng.permutation(categories)[: products % categories]] += 1
    # Products are grouped by category: demo_data picks them by keys that rely on it.
    return rows, np.repeat(np.arange(categories), counts)


def product_texts(
    categories: int, product_category: np.ndarray, rng: np.random.Generator
) -> tuple[list[str], list[str], list[str]]:
    """Unique names and slugs, and descriptions, from each category's word lists."""
    names: list[str] = []
    slugs: list[str] = []
    descriptions: list[str] = []
    used_slugs: set[str] = set()
    for category, theme in enumerate(THEMES[:categories]):
        count = int((product_category == category).sum())
        shape = (len(theme.adjectives), len(theme.materials), len(theme.nouns))
        space = int(np.prod(shape))
        picks = rng.choice(space, size=min(count, space), replace=False)
        for number in range(count):
            adjective, material, noun = np.unravel_index(picks[number % space], shape)
            name = theme.pattern.format(
                adjective=theme.adjectives[adjective],
                material=theme.materials[material],
                noun=theme.nouns[noun],
            )
            if number >= space:  # more products than word combinations: numbered editions
                name = f"{name} No. {number // space + 1}"
            slug = base = slugify(name)
            suffix = 2
            while slug in used_slugs:
                slug, suffix = f"{base}-{suffix}", suffix + 1
            used_slugs.add(slug)
            first, second = rng.choice(len(theme.selling_points), size=2, replace=False)
            closing = CLOSING_LINES[rng.integers(len(CLOSING_LINES))]
            names.append(name)
            slugs.append(slug)
            descriptions.append(
                f"{theme.selling_points[first]} {theme.selling_points[second]} {closing}"
            )
    return names, slugs, descriptions


def prices(product_category: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Prices in cents within each category's range."""
    low = np.array([THEMES[c].price_range[0] for c in product_category], dtype=float)
    high = np.array([THEMES[c].price_range[1] for c in product_category], dtype=float)
    # Log-scale between the category's bounds, skewed towards cheaper items, ending in .99 or .49.
    position = rng.beta(2.0, 3.0, size=len(product_category))
    euros = np.ceil(low * (high / low) ** position).astype(np.int64)
    ending = rng.choice(np.array([1, 51]), size=len(euros), p=[0.8, 0.2])
    return np.maximum(euros * 100 - ending, 99)


def stock_levels(products: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Stock and active flags: plenty of everything, a few sold out, a few retired."""
    stock = rng.integers(*STOCK_RANGE, size=products)
    active = np.ones(products, dtype=bool)
    out_of_stock = round(products * OUT_OF_STOCK_SHARE)
    inactive = round(products * INACTIVE_SHARE)
    chosen = rng.permutation(products)
    stock[chosen[:out_of_stock]] = 0
    active[chosen[out_of_stock : out_of_stock + inactive]] = False
    return stock, active
