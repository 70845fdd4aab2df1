"""Which arm of the experiment a user is in: the model, the holdout, a second production variant, or
the control arm that sees no widget at all.

A user's place is a number in [0, 1) hashed from their pseudonym, so it is the same in every process
and on every visit, and needs no storage. With HOLDOUT_SHARE = 0.1 and SECOND_VARIANT_SHARE = 0.2,
places [0, 0.1) are the holdout (they see the local fallback ranking, never the model), [0.1, 0.3)
are sent to SECOND_VARIANT (SageMaker TargetVariant) and the rest to the endpoint's usual routing.
CONTROL_SHARE takes its slice from the other end, [1 - CONTROL_SHARE, 1): those users see no widget
(their visits are still counted, see `engagement.py`), and no other share's change moves them.
Changing a share moves only the users at the edge; rotating PSEUDONYM_KEY reshuffles everyone.
"""

import hashlib
from dataclasses import dataclass
from functools import lru_cache

from ..conf import app_settings

MODEL = "model"
HOLDOUT = "holdout"
SECOND_VARIANT = "variant"
ANONYMOUS = "anonymous"
CONTROL = "control"


@dataclass(frozen=True)
class Arm:
    """An arm's name and the production variant its users' requests target (None: the default)."""

    name: str
    target_variant: str | None = None

    @property
    def sees_model(self) -> bool:
        """Whether the model is asked for this arm's users at all."""
        return self.name in (MODEL, SECOND_VARIANT)


MODEL_ARM = Arm(MODEL)
HOLDOUT_ARM = Arm(HOLDOUT)
ANONYMOUS_ARM = Arm(ANONYMOUS)
CONTROL_ARM = Arm(CONTROL)


def place(user_key: str) -> float:
    """The user's deterministic place in [0, 1), from a hash of their pseudonym."""
    # A prefix keeps this hash independent of any other use of the pseudonym's bits.
    digest = hashlib.sha256(f"recommendations-arm:{user_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def arm_for(user_key: str | None) -> Arm:
    """The arm of the user with this pseudonym (anonymous visitors have their own arm)."""
    if not user_key:
        return ANONYMOUS_ARM
    return _arm(
        user_key,
        float(app_settings.HOLDOUT_SHARE or 0.0),
        app_settings.SECOND_VARIANT,
        float(app_settings.SECOND_VARIANT_SHARE or 0.0),
        float(app_settings.CONTROL_SHARE or 0.0),
    )


@lru_cache(maxsize=65536)
def _arm(
    user_key: str, holdout: float, variant: str | None, variant_share: float, control: float = 0.0
) -> Arm:
    # Memoised: a page would otherwise hash the pseudonym again on every view.
    where = place(user_key)
    # The control slice is at the top, so a change of the holdout or variant shares never moves
    # a user into or out of it.
    if where >= 1.0 - control:
        return CONTROL_ARM
    if where < holdout:
        return HOLDOUT_ARM
    if variant and where < holdout + variant_share:
        return Arm(SECOND_VARIANT, str(variant))
    return MODEL_ARM
