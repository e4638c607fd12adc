"""Who may ask a miner for work: the one rule both sides apply.

The miner refuses callers by it (``neurons.mining.guard.CallerPolicy``); the
validator checks itself by it before a round (``neurons.validating.standing``),
so a validator a miner would refuse does not ask. Each side words the outcome
for its own reader; the order of the checks lives here only.
"""

from __future__ import annotations

from enum import Enum

from neurons.chain import NeuronInfo

__all__ = ["Broken", "first_broken_rule"]


class Broken(Enum):
    """The admission rule a neuron breaks."""

    NOT_REGISTERED = "not registered on the subnet"
    NO_PERMIT = "no validator permit"
    LOW_STAKE = "stake under the minimum"


def first_broken_rule(
    neuron: NeuronInfo | None, *, min_stake: float, require_permit: bool = True
) -> Broken | None:
    """The first rule ``neuron`` (None: not registered) breaks, or None when it may ask.

    Checks, in order: registration, validator permit (unless ``require_permit`` is
    false), stake (``stake >= min_stake`` passes).
    """
    if neuron is None:
        return Broken.NOT_REGISTERED
    if require_permit and not neuron.validator_permit:
        return Broken.NO_PERMIT
    if neuron.stake < min_stake:
        return Broken.LOW_STAKE
    return None
