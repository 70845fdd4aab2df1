"""Benchmark of training: EASE and RP3beta on 20,000 items, ALS on 1M interactions; seconds, memory.

Each fit runs in a fresh subprocess on synthetic data drawn by `model.data.synthetic.bulk_interactions`
(users with a favourite category, Zipf-like item popularity), so its peak RSS is its own: the
interpreter, the data and the fit. EASE's phases (Gram matrix, Cholesky factorisation, inverse,
scaling) are timed too, to show what dominates (DLAE's fit is EASE's, with another diagonal).
The search's fit budget is printed with what it costs at these fit times, and where the default
--search-minutes stops it.

    .venv/bin/python bench/training.py [--ease-items 20000] [--als-interactions 1000000]

Ends with the TARGET lines: EASE fit under 60 s and under EASE_PEAK_RSS_LIMIT_MB, RP3beta and
ALS under 60 s.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The stated limit for EASE at 20k items: its 20,000^2 float32 matrix is 1,526 MB; the rest is the
# interpreter, the 1M-row data set and the Gram blocks.
EASE_PEAK_RSS_LIMIT_MB = 2200
SECONDS_LIMIT = 60


def peak_rss_mb() -> float:
    """This process's peak resident set size so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ease(items: int, interactions: int) -> dict:
    """Fit EASE on `items` items; seconds, phases and peak RSS."""
    from model.data.synthetic import bulk_interactions
    from model.training.ease import EaseParams, fit_ease

    data = bulk_interactions(num_users=50_000, num_items=items, num_interactions=interactions)
    before = peak_rss_mb()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    model = fit_ease(data, EaseParams(max_memory_mb=EASE_PEAK_RSS_LIMIT_MB), timings)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "items": model.num_items,
        "interactions": len(data),
        "phases": timings,
        "rss_before_fit_mb": before,
        "peak_rss_mb": peak_rss_mb(),
    }


def run_rp3beta(items: int, interactions: int) -> dict:
    """Fit RP3beta on `items` items (the data EASE gets); seconds and peak RSS."""
    from model.data.synthetic import bulk_interactions
    from model.training.rp3beta import Rp3BetaParams, fit_rp3beta

    data = bulk_interactions(num_users=50_000, num_items=items, num_interactions=interactions)
    before = peak_rss_mb()
    started = time.perf_counter()
    model = fit_rp3beta(data, Rp3BetaParams(max_memory_mb=EASE_PEAK_RSS_LIMIT_MB))
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "items": model.num_items,
        "interactions": len(data),
        "rss_before_fit_mb": before,
        "peak_rss_mb": peak_rss_mb(),
    }


def search_cost(seconds: dict[str, float]) -> str:
    """The default search's fits, their minutes at the measured fit times, and where it stops."""
    from model.training.candidates import DEFAULT_FIT_BUDGET, DEFAULT_SEARCH_SECONDS, MODELS
    from model.training.validation import DEFAULT_FOLDS

    points = DEFAULT_FIT_BUDGET // DEFAULT_FOLDS
    share = {kind: points // len(MODELS) for kind in MODELS}
    minutes = sum(share[kind] * DEFAULT_FOLDS * seconds[kind] for kind in MODELS) / 60
    # Each kind's start point is always scored; the rest of the time is shared between the kinds.
    start_minutes = sum(DEFAULT_FOLDS * seconds[kind] for kind in MODELS) / 60
    budget_minutes = DEFAULT_SEARCH_SECONDS / 60
    capped = min(minutes, max(budget_minutes, start_minutes))
    return (
        f"search: a budget of {DEFAULT_FIT_BUDGET} fits ({DEFAULT_FOLDS} folds x {points} "
        f"points, about {share[MODELS[0]]} per kind of {', '.join(MODELS)}); at these fit times "
        f"(each fold fits on less than all the data, so this is an upper bound) they would take "
        f"about {minutes:.0f} min; --search-minutes {budget_minutes:g} (the default) stops it "
        f"at about {capped:.0f} min"
    )


def run_als(interactions: int) -> dict:
    """Fit ALS (the default parameters) on `interactions` rows; seconds and peak RSS."""
    from model.data.synthetic import bulk_interactions
    from model.training.als import fit

    data = bulk_interactions(num_users=100_000, num_items=20_000, num_interactions=interactions)
    before = peak_rss_mb()
    started = time.perf_counter()
    model = fit(data)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "items": model.num_items,
        "users": model.num_users,
        "interactions": len(data),
        "rss_before_fit_mb": before,
        "peak_rss_mb": peak_rss_mb(),
    }


def in_subprocess(*arguments: str) -> dict:
    """Run this script with `arguments` in a fresh interpreter; its JSON result."""
    completed = subprocess.run(
        [sys.executable, __file__, *arguments], capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(arguments)} failed:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def verdict(value: float, limit: float) -> str:
    """PASS when `value` is under `limit`."""
    return "PASS" if value < limit else "FAIL"


def main() -> int:
    """Run both fits and print the figures and the TARGET lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ease-items", type=int, default=20_000)
    parser.add_argument("--ease-interactions", type=int, default=1_000_000)
    parser.add_argument("--als-interactions", type=int, default=1_000_000)
    parser.add_argument("--only", choices=("ease", "rp3beta", "als"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.only == "ease":
        print(json.dumps(run_ease(arguments.ease_items, arguments.ease_interactions)))
        return 0
    if arguments.only == "rp3beta":
        print(json.dumps(run_rp3beta(arguments.ease_items, arguments.ease_interactions)))
        return 0
    if arguments.only == "als":
        print(json.dumps(run_als(arguments.als_interactions)))
        return 0

    # The machine may be shared: the load says how much of its 2 cores the fits could have.
    print(f"cores {len(os.sched_getaffinity(0))}, load average {os.getloadavg()[0]:.1f} at start")
    ease = in_subprocess(
        "--only",
        "ease",
        "--ease-items",
        str(arguments.ease_items),
        "--ease-interactions",
        str(arguments.ease_interactions),
    )
    print(
        f"EASE: {ease['items']:,} items, {ease['interactions']:,} interactions: "
        f"{ease['seconds']:.1f} s (phases {ease['phases']}), peak RSS {ease['peak_rss_mb']:,.0f} MB "
        f"({ease['rss_before_fit_mb']:,.0f} MB before the fit)",
        flush=True,
    )
    print(f"load average {os.getloadavg()[0]:.1f} after EASE", flush=True)
    rp3beta = in_subprocess(
        "--only",
        "rp3beta",
        "--ease-items",
        str(arguments.ease_items),
        "--ease-interactions",
        str(arguments.ease_interactions),
    )
    print(
        f"RP3beta: {rp3beta['items']:,} items, {rp3beta['interactions']:,} interactions: "
        f"{rp3beta['seconds']:.1f} s, peak RSS {rp3beta['peak_rss_mb']:,.0f} MB "
        f"({rp3beta['rss_before_fit_mb']:,.0f} MB before the fit)",
        flush=True,
    )
    als = in_subprocess("--only", "als", "--als-interactions", str(arguments.als_interactions))
    print(
        f"ALS: {als['interactions']:,} interactions, {als['users']:,} users, {als['items']:,} "
        f"items: {als['seconds']:.1f} s, peak RSS {als['peak_rss_mb']:,.0f} MB "
        f"({als['rss_before_fit_mb']:,.0f} MB before the fit)",
        flush=True,
    )
    fit_seconds = {
        "als": als["seconds"],
        "ease": ease["seconds"],
        "dlae": ease["seconds"],
        "rp3beta": rp3beta["seconds"],
    }
    print(search_cost(fit_seconds))
    print(
        f"TARGET ease_fit_{arguments.ease_items // 1000}k_items_seconds {ease['seconds']:.1f} "
        f"< {SECONDS_LIMIT} {verdict(ease['seconds'], SECONDS_LIMIT)}"
    )
    print(
        f"TARGET ease_fit_{arguments.ease_items // 1000}k_items_peak_rss_mb "
        f"{ease['peak_rss_mb']:.0f} < {EASE_PEAK_RSS_LIMIT_MB} "
        f"{verdict(ease['peak_rss_mb'], EASE_PEAK_RSS_LIMIT_MB)}"
    )
    print(
        f"TARGET rp3beta_fit_{arguments.ease_items // 1000}k_items_seconds "
        f"{rp3beta['seconds']:.1f} < {SECONDS_LIMIT} {verdict(rp3beta['seconds'], SECONDS_LIMIT)}"
    )
    print(
        f"TARGET als_fit_{arguments.als_interactions // 1_000_000}m_interactions_seconds "
        f"{als['seconds']:.1f} < {SECONDS_LIMIT} {verdict(als['seconds'], SECONDS_LIMIT)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
