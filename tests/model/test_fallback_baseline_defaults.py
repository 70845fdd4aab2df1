"""model/evaluation/fallback_baseline.py ranks the fallback offline with the app's FALLBACK_*
defaults, and with literals of its own where model/ runs without the app: both must agree, or
an offline comparison silently uses another fallback than the shop's."""

import dataclasses
import importlib
import sys

from model.evaluation import fallback_baseline


def test_the_literals_used_without_the_app_are_the_apps_defaults(monkeypatch):
    with_app = fallback_baseline.FallbackSettings()
    # None in sys.modules makes `import recommendations.conf.defaults` raise ImportError.
    monkeypatch.setitem(sys.modules, "recommendations.conf.defaults", None)
    try:
        without_app = importlib.reload(fallback_baseline).FallbackSettings()
    finally:
        monkeypatch.undo()
        importlib.reload(fallback_baseline)
    assert dataclasses.asdict(without_app) == dataclasses.asdict(with_app)
