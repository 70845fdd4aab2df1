"""Settings of the bench's web servers: the demo shop's, plus RECOMMENDATIONS overrides.

`BENCH_RECOMMENDATIONS` holds a JSON object merged over the demo's RECOMMENDATIONS dict, for the
settings the demo does not read from the environment (breaker thresholds, a bench-only backend).
"""

import json
import os

from demo_shop.settings import *  # noqa: F403
from demo_shop.settings import RECOMMENDATIONS as DEMO_RECOMMENDATIONS

RECOMMENDATIONS = {
    **DEMO_RECOMMENDATIONS,
    **json.loads(os.environ.get("BENCH_RECOMMENDATIONS") or "{}"),
}
