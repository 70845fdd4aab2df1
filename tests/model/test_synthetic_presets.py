"""model/data/synthetic.py's presets for the evaluate table: harder really is harder, and the writer
produces what model.evaluate reads."""

import numpy as np
import pytest

from model.data.interactions import read_interactions
from model.data.synthetic import PRESETS, main, preset_interactions, taste_interactions


def top_tenth_share(item_ids: np.ndarray) -> float:
    _, counts = np.unique(item_ids, return_counts=True)
    ranked = np.sort(counts)[::-1]
    return ranked[: max(1, len(ranked) // 10)].sum() / ranked.sum()


def test_more_favourites_spread_a_users_purchases_over_more_taste_groups():
    def groups_per_user(max_favourites: int) -> float:
        data = taste_interactions(
            num_users=200, num_items=120, num_categories=12, max_favourites=max_favourites, seed=2
        )
        groups = (data.item_ids.astype(int) - 1) % 12  # category c: items c + 1, c + 13, ...
        per_user = [len(set(groups[data.user_ids == user])) for user in np.unique(data.user_ids)]
        return float(np.mean(per_user))

    assert groups_per_user(4) > 1.3 * groups_per_user(1)


def test_a_larger_popularity_exponent_makes_a_longer_tail():
    flat = taste_interactions(num_users=300, num_items=200, popularity_exponent=0.0, seed=4)
    steep = taste_interactions(num_users=300, num_items=200, popularity_exponent=1.2, seed=4)

    assert top_tenth_share(steep.item_ids) > 1.5 * top_tenth_share(flat.item_ids)


def test_the_harder_preset_has_more_items_and_sparser_users_than_the_demo_sized_one():
    demo = PRESETS["demo-sized"]
    harder = PRESETS["harder"]

    assert harder["num_items"] >= 4 * demo["num_items"]
    assert harder["orders_per_user"][1] < demo["orders_per_user"][1]
    assert harder["max_favourites"] > 2
    assert harder["popularity_exponent"] > 0.8  # taste_interactions' default


def test_a_preset_is_written_as_json_lines_that_model_evaluate_reads(tmp_path, capsys):
    path = tmp_path / "demo-sized.jsonl"

    assert main(["--preset", "demo-sized", "--seed", "3", "--to", str(path)]) == 0

    written = read_interactions(path)
    expected = preset_interactions("demo-sized", seed=3)
    assert len(written) == len(expected)
    assert sorted(written.item_ids.tolist()) == sorted(expected.item_ids.tolist())
    assert "of preset demo-sized" in capsys.readouterr().out


def test_an_unknown_preset_or_impossible_mixing_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown preset 'hardest'"):
        preset_interactions("hardest")
    with pytest.raises(ValueError, match="max_favourites"):
        taste_interactions(num_users=5, num_items=10, num_categories=2, max_favourites=3)
