"""Benchmark of model selection: `model.evaluate` on every synthetic preset and several seeds.

For each preset and seed it prints the candidates tried, the pick, the best candidate on test and
how far the pick is behind it (NDCG@10, 95% paired bootstrap interval), how well the
candidates' validation order agrees with their test order, for the folds the choice uses and for
the newest order alone (the one cut the choice used to make), and, indented, each kind's best
candidate on validation against EASE's on test. The figures docs/model.md quotes.

    .venv/bin/python bench/selection.py [--presets demo-sized,harder] [--seeds 1,2] [--folds 3]
        [--models als,ease,dlae,rp3beta] [--fit-budget 96] [--edlae] [--json]

`--edlae` adds EDLAE (Steck 2020: DLAE's penalty in EASE's zero-diagonal form), which is not a
kind the training serves, to this process's kinds for the comparison only: it is fitted with
ease.py's own `ease_weights` and searched like DLAE, from lambda 250 and dropout 0.25.
"""

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dataclasses import dataclass  # noqa: E402

from model.data.interactions import Interactions  # noqa: E402
from model.data.synthetic import PRESETS, preset_interactions  # noqa: E402
from model.evaluation.offline import evaluate  # noqa: E402
from model.inference.recommender import Recommender  # noqa: E402
from model.training.candidates import KINDS, MODELS, ModelKind, SearchGrid  # noqa: E402
from model.training.dlae import DlaeParams  # noqa: E402
from model.training.ease import check_memory, ease_weights, item_item_model  # noqa: E402
from model.training.encoding import encode  # noqa: E402


@dataclass(frozen=True)
class EdlaeParams(DlaeParams):
    """EDLAE's hyperparameters: DLAE's, starting where the earlier comparison started."""

    regularization: float = 250.0
    dropout: float = 0.25


def fit_edlae(interactions: Interactions, params: EdlaeParams) -> Recommender:
    """EDLAE: DLAE's Lambda with EASE's zero diagonal, scored as EASE is (its weights' shape)."""
    encoded = encode(interactions)
    check_memory(len(encoded.item_ids), params.max_memory_mb, "EDLAE")
    user_items = encoded.user_items()
    weights = ease_weights(
        user_items, params.regularization, params.threads, dropout=params.dropout
    )
    return item_item_model("ease", encoded, user_items, weights, params)


def add_edlae() -> None:
    """Make EDLAE a kind in this process only, searched on DLAE's dimensions."""
    KINDS["edlae"] = ModelKind(
        "edlae",
        EdlaeParams,
        fit_edlae,
        lambda p: f"edlae lambda={p.regularization:g} dropout={p.dropout:g}",
        KINDS["dlae"].dimensions,
        item_item=True,
    )


def run(preset: str, seed: int, grid: SearchGrid) -> dict:
    """One evaluation's summary: candidates, pick, best on test, agreement."""
    started = time.perf_counter()
    evaluation = evaluate(preset_interactions(preset, seed), grid)
    document = evaluation.as_json()
    candidates = [row for row in evaluation.rows if row.validation is not None]
    # The old choice, for comparison: the best NDCG on the newest order alone.
    newest = max(document["selection"]["candidates"], key=lambda c: c["newest_fold_ndcg"] or 0.0)[
        "label"
    ]
    test = {row.name: row.test.ndcg for row in candidates}
    return {
        "preset": preset,
        "seed": seed,
        "candidates": len(candidates),
        "fits": evaluation.selection.fits,
        "chosen": document["chosen"],
        "chosen_ndcg": round(evaluation.scores("model").ndcg, 4),
        "pick_on_test": document["pick_on_test"],
        "newest_order_pick": newest,
        "newest_order_pick_behind_best": round(max(test.values()) - test[newest], 4),
        "agreement": document["agreement"],
        "kinds": document["kinds"],
        "seconds": round(time.perf_counter() - started, 1),
    }


def line(result: dict) -> str:
    """One fixed-width line per run."""
    pick = result["pick_on_test"]
    folds, newest = result["agreement"]["folds"], result["agreement"]["newest_order"]
    return (
        f"{result['preset']:<13} {result['seed']:>4} {result['candidates']:>5} {result['fits']:>5} "
        f"{result['chosen']:<40} {result['chosen_ndcg']:>7.4f} {pick['best']:<40} "
        f"{pick['lead']:+.4f} [{pick['low']:+.4f}, {pick['high']:+.4f}] "
        f"{newest['kendall_tau']:>+6.2f} {folds['kendall_tau']:>+6.2f} "
        f"{newest['pairwise']:>6.0%} {folds['pairwise']:>6.0%} {result['seconds']:>6.1f}"
    )


def main() -> int:
    """Evaluate every preset and seed asked for; print a line each and the mean agreement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--folds", type=int, default=SearchGrid.folds)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--fit-budget", type=int, default=SearchGrid.fit_budget)
    parser.add_argument(
        "--edlae", action="store_true", help="add EDLAE to the kinds, for the comparison only"
    )
    parser.add_argument("--json", action="store_true", help="print JSON lines instead")
    arguments = parser.parse_args()
    models = tuple(arguments.models.split(","))
    if arguments.edlae:
        add_edlae()
        models = models if "edlae" in models else (*models, "edlae")
    grid = SearchGrid(
        models=models,
        folds=arguments.folds,
        fit_budget=arguments.fit_budget,
    )
    if not arguments.json:
        print(
            f"{'preset':<13} {'seed':>4} {'cands':>5} {'fits':>5} {'pick':<40} {'ndcg':>7} "
            f"{'best on test':<40} {'pick behind best (95% CI)':<27} "
            f"{'tau1':>6} {'tauF':>6} {'pair1':>6} {'pairF':>6} {'s':>6}"
        )
    results = []
    for preset in arguments.presets.split(","):
        for seed in (int(s) for s in arguments.seeds.split(",")):
            result = run(preset, seed, grid)
            results.append(result)
            print(json.dumps(result) if arguments.json else line(result), flush=True)
            if not arguments.json:
                print(
                    f"    the newest order alone would pick {result['newest_order_pick']}: "
                    f"{result['newest_order_pick_behind_best']:+.4f} behind the best on test"
                )
                for kind in result["kinds"].values():
                    if kind["kind"] != "ease":
                        print(
                            f"    {kind['label']:<44} test ndcg {kind['ndcg']:.4f}, against "
                            f"ease's best: {kind['lead']:+.4f} [{kind['low']:+.4f}, "
                            f"{kind['high']:+.4f}]",
                            flush=True,
                        )
    if not arguments.json:
        for name, label in (("newest_order", "the newest order alone"), ("folds", "the folds")):
            taus = [r["agreement"][name]["kendall_tau"] for r in results]
            pairs = [r["agreement"][name]["pairwise"] for r in results]
            print(
                f"mean agreement, {label}: Kendall tau {sum(taus) / len(taus):+.2f}, "
                f"pairs ordered alike {sum(pairs) / len(pairs):.0%}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
