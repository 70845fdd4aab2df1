"""The fallback's id-to-position mapping: a table indexed by id for dense primary keys, a sort
for ids far apart; both give np.unique's answer, so the rankings do not depend on the path."""

import numpy as np

from recommendations.catalog import InteractionChunk
from recommendations.fallback.compute import _positions, compute_tables


def chunks_of(users: np.ndarray, items: np.ndarray, size: int = 7) -> list[InteractionChunk]:
    return [
        InteractionChunk(
            users[i : i + size],
            items[i : i + size],
            np.ones(len(users[i : i + size]), dtype=np.float32),
            np.full(len(users[i : i + size]), 1_000.0),
        )
        for i in range(0, len(users), size)
    ]


def test_dense_and_far_apart_ids_map_as_np_unique_does():
    rng = np.random.default_rng(3)
    dense = rng.integers(1, 500, 1_000)
    far_apart = dense * 10**12  # beyond any table: sorted instead
    for ids in (dense, far_apart):
        parts = [ids[:300], ids[300:301], ids[301:]]
        distinct, positions = _positions(parts)
        expected_distinct, expected_positions = np.unique(ids, return_inverse=True)
        assert distinct.tolist() == expected_distinct.tolist()
        assert positions.tolist() == expected_positions.tolist()


def test_rankings_are_the_same_whichever_way_ids_are_mapped():
    rng = np.random.default_rng(5)
    users = rng.integers(1, 60, 400)
    items = rng.integers(1, 40, 400)
    options = {"now": 2_000.0, "half_life_days": 30.0, "neighbours": 5}
    dense = compute_tables(chunks_of(users, items), {}, **options)
    shift = 10**12
    far = compute_tables(chunks_of(users * shift, items * shift), {}, **options)
    assert (far.items == dense.items * shift).all()
    assert np.allclose(far.popularity, dense.popularity)
    assert (far.neighbour_index == dense.neighbour_index).all()
    assert far.users == dense.users == len(np.unique(users))
