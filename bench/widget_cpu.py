"""What the widget costs a page in CPU, in process: request-by-request A/B of the demo home page.

    .venv/bin/python bench/widget_cpu.py [--pages 3000] [--warm-up 2000] [--parts]
                                         [--without PIECE[+PIECE...] ...]

Seeds a throwaway SQLite shop (as bench/page.py does), starts a private redis-server and a model
endpoint, prefetches every customer, then calls the demo's WSGI application (`demo_shop/wsgi.py`,
start-up heap frozen) directly in one thread, alternating page by page between the plain page
(DEMO_RECOMMENDATIONS_WIDGET off) and the cache-hit widget page, each a different customer in
turn. Each page's thread CPU (`time.thread_time()`: user and system time of this thread) is
recorded after the warm-up, which renders every customer's cards once.

Alternating single pages puts both kinds of page under the same machine load, caches and heap, so
the difference is the widget's own cost with the rest of the page around it (a loop over the
widget alone runs its code hot and shows a third of that). What a real server adds (Redis'
own CPU, threads sharing the GIL, the client) is bench/page.py's part; this script is steadier
and is how each change to the cache-hit path was measured. `--parts` adds the thread CPU of the
widget's parts (cache read, products, tracking, rendering) per hit page.

`--without near_cache` (and `product_snapshot`, `card_cache`, or several joined by `+`) adds a
kind of page to the rotation: the hit page with that piece of the app's per-process machinery
switched off (its setting 0), so that what each piece saves is measured in the same run, page
by page, as the widget itself. The settings are
switched with `app_settings.reload()`, which drops no per-process state between pages.

Prints the mean thread CPU per page of each kind, the widget's cost and the plain/hit ratio. It
checks no target: bench/page.py's `widget_cache_hit_vs_plain` is the issue's.
"""

import argparse
import collections
import functools
import io
import os
import statistics
import sys
import time
from contextlib import ExitStack

from harness.shop import (
    add_shop_arguments,
    endpoint_environment,
    login_customers,
    manage,
    model_endpoint,
    private_redis,
    seed_shop_as_asked,
    setup_django,
    shop_environment,
    training_interactions,
    work_folder,
)

# The app's per-process machinery a page can run without: the setting that switches it off.
PIECES = {
    "near_cache": "NEAR_CACHE_SECONDS",
    "product_snapshot": "PRODUCT_SNAPSHOT_SECONDS",
    "card_cache": "CARD_CACHE_SECONDS",
}


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_shop_arguments(parser)
    parser.add_argument("--pages", type=int, default=3000, help="measured pages of each kind")
    parser.add_argument("--warm-up", type=int, default=2000, help="pages before measuring")
    parser.add_argument("--parts", action="store_true", help="thread CPU of the widget's parts")
    parser.add_argument(
        "--without",
        action="append",
        default=[],
        metavar="PIECE[+PIECE]",
        help=f"also measure the hit page without these pieces ({', '.join(PIECES)})",
    )
    return parser.parse_args()


def main() -> int:
    options = parse_arguments()
    with work_folder("widget-cpu-") as work_dir, ExitStack() as stack:
        redis_server = stack.enter_context(private_redis(work_dir))
        env = shop_environment(f"sqlite:///{work_dir / 'shop.sqlite3'}", redis_server.url(0))
        seed_shop_as_asked(env, options)
        setup_django(env)
        endpoint = stack.enter_context(
            model_endpoint(work_dir / "endpoint", training_interactions())
        )
        env.update(endpoint_environment(endpoint))
        os.environ.update(endpoint_environment(endpoint))
        manage(env, "recommendations_prefetch", "--all", "--verbosity", "0")
        return measure(options, [cookie for _, cookie in login_customers()])


def measure(options: argparse.Namespace, cookies: list[str]) -> int:
    from django.conf import settings

    from demo_shop.wsgi import application  # freezes the start-up heap, as gunicorn would load it

    parts = _instrument() if options.parts else None
    scenarios = {"plain": (), "hit": ()}
    for without in options.without:
        pieces = tuple(without.split("+"))
        unknown = [piece for piece in pieces if piece not in PIECES]
        if unknown:
            raise SystemExit(
                f"--without: unknown piece {unknown[0]!r} (known: {', '.join(PIECES)})"
            )
        scenarios[f"hit-{without}"] = pieces
    switch = _Switch(settings)

    def start_response(status: str, headers: list, exc_info: object = None) -> None:
        if not status.startswith("200"):
            raise RuntimeError(f"the home page answered {status}")

    def page(cookie: str) -> float:
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": "/",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_COOKIE": cookie,
            "wsgi.input": io.BytesIO(b""),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
        }
        started = time.thread_time()
        b"".join(application(environ, start_response))
        return (time.thread_time() - started) * 1000

    kinds = tuple(scenarios)
    samples: dict[str, list[float]] = {kind: [] for kind in kinds}
    total = options.warm_up + len(kinds) * options.pages
    for number in range(total):
        kind = kinds[number % len(kinds)]
        # A plain attribute, read by the demo's view on each request: switching it sends no
        # setting_changed, so nothing the app keeps per process is dropped between pages.
        settings.DEMO_RECOMMENDATIONS_WIDGET = kind != "plain"
        switch.off(scenarios[kind])
        if parts is not None:
            parts.kind = kind
            if number == options.warm_up:
                parts.clear()
        cpu_ms = page(cookies[(number // len(kinds)) % len(cookies)])
        if number >= options.warm_up:
            samples[kind].append(cpu_ms)
    switch.off(())

    from recommendations.tracking import events

    events.hand_off_buffered()  # the impressions, to the broker while the private Redis still runs
    plain, hit = (statistics.fmean(samples[kind]) for kind in ("plain", "hit"))
    print(f"{len(cookies)} customers, {options.pages} pages of each kind after {options.warm_up}")
    print(f"{'page':<40} {'mean ms':>8} {'median ms':>10}")
    labels = {"plain": "plain (no widget)", "hit": "widget, cache hit"}
    for kind in kinds:
        label = labels.get(kind, f"widget, cache hit, {kind[4:]} off")
        print(
            f"{label:<40} {statistics.fmean(samples[kind]):8.3f} "
            f"{statistics.median(samples[kind]):10.3f}"
        )
    print(
        f"widget on a cache hit: {hit - plain:.3f} ms thread CPU per page; plain/hit x{plain / hit:.3f}"
    )
    for kind in kinds[2:]:
        without = statistics.fmean(samples[kind])
        print(
            f"{kind[4:]} saves {without - hit:.3f} ms thread CPU per hit page "
            f"(mean; median {statistics.median(samples[kind]) - statistics.median(samples['hit']):.3f}); "
            f"plain/hit without it x{plain / without:.3f}"
        )
    if parts is not None:
        parts.report(len(samples["hit"]))
    return 0


class _Switch:
    """Turns pieces of the app's machinery off and on between pages, keeping what they hold."""

    def __init__(self, settings: object) -> None:
        from recommendations.conf import app_settings

        self.settings = settings
        self.app_settings = app_settings
        self.original = dict(settings.RECOMMENDATIONS)
        self.current: tuple[str, ...] = ()

    def off(self, pieces: tuple[str, ...]) -> None:
        if pieces == self.current:
            return
        self.current = pieces
        values = dict(self.original)
        for piece in pieces:
            values[PIECES[piece]] = 0
        # Changed without setting_changed: what the app keeps in this process stays.
        self.settings.RECOMMENDATIONS = values
        self.app_settings.reload()


class _Parts:
    """Thread CPU of the widget's parts, summed over the measured hit pages."""

    def __init__(self) -> None:
        self.kind = "plain"
        self.seconds: collections.Counter = collections.Counter()

    def clear(self) -> None:
        self.seconds.clear()

    def wrap(self, owner: object, name: str, label: str) -> None:
        function = getattr(owner, name)

        @functools.wraps(function)
        def timed(*args, **kwargs):
            started = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                if self.kind == "hit":
                    self.seconds[label] += time.thread_time() - started

        setattr(owner, name, timed)

    def report(self, pages: int) -> None:
        print("parts, thread CPU per hit page (indented: inside the line above):")
        for label, seconds in self.seconds.items():
            print(f"  {label:<34} {seconds / pages * 1e6:7.1f} us")


def _instrument() -> _Parts:
    from recommendations import service
    from recommendations.serving import product_snapshot
    from recommendations.templatetags import recommendations as tags
    from recommendations.tracking import impressions

    parts = _Parts()
    parts.wrap(tags, "recommend", "service.recommend")
    parts.wrap(service.prefetched, "read_entry_with", "  the cache read")
    parts.wrap(product_snapshot, "products", "  the products")
    parts.wrap(tags, "track_widget", "tracking (impression, signed links)")
    parts.wrap(impressions.clicks, "sign", "  signing")
    parts.wrap(tags, "render_widget", "rendering")
    return parts


if __name__ == "__main__":
    sys.exit(main())
