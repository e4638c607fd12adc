"""Named sets of subnet hyperparameters for ``create-subnet --profile``.

``local`` is :class:`~neurons.devnet.runtime.SubnetParams`' defaults: short tempo and rate
limit, for a whole subnet on one machine in seconds. ``finney`` is what a new subnet on
finney runs with, each value from subtensor's source (``opentensor/subtensor``):

- ``subnets/subnet.rs::init_new_network``: ``MaxAllowedUids`` 256, ``MaxAllowedValidators`` 64,
  ``MinAllowedWeights`` 1, ``ImmunityPeriod`` 5000, ``Yuma3On`` true (``set_yuma3_enabled``;
  all set explicitly for every new network);
- ``runtime/src/lib.rs``: tempo ``INITIAL_SUBNET_TEMPO`` = 360 (the production build),
  ``SubtensorInitialServingRateLimit`` 50; ``pallets/subtensor/src/lib.rs``:
  ``DefaultWeightsSetRateLimit`` 100, ``DefaultCommitRevealWeightsEnabled`` true,
  ``DefaultRevealPeriodEpochs`` 1, ``DefaultMinNonImmuneUids`` 10;
- ``utils/misc.rs::get_max_weight_limit`` returns ``u16::MAX`` for every subnet: no max-weight
  limit is applied on finney today.

Finney's blocks are 12 s (:data:`FINNEY_BLOCK_TIME`). The devnet may run the same rules with
shorter blocks: every rule counts blocks, so the ratios between tempo, rate limits, reveal and
immunity stay those of finney at any block time.
"""

from __future__ import annotations

from dataclasses import dataclass

from .runtime import U16_MAX, SubnetParams

__all__ = ["Profile", "PROFILES", "FINNEY_BLOCK_TIME", "profile"]

FINNEY_BLOCK_TIME = 12.0


@dataclass(frozen=True)
class Profile:
    """A subnet's hyperparameters and the block time they were made for (None: the devnet's)."""

    name: str
    params: SubnetParams
    block_time: float | None
    description: str


PROFILES: dict[str, Profile] = {
    "local": Profile(
        "local", SubnetParams(), None,
        "fast local runs: tempo 10, weights rate limit 5, commit-reveal on, Yuma3 on",
    ),
    "finney": Profile(
        "finney",
        SubnetParams(
            tempo=360,
            weights_rate_limit=100,
            min_allowed_weights=1,
            max_weights_limit=U16_MAX,
            max_uids=256,
            serving_rate_limit=50,
            max_allowed_validators=64,
            immunity_period=5000,
            min_non_immune_uids=10,
            commit_reveal_weights_enabled=True,
            commit_reveal_period=1,
            yuma3_enabled=True,
        ),
        FINNEY_BLOCK_TIME,
        "a new finney subnet: tempo 360, weights rate limit 100, commit-reveal on (reveal "
        "period 1), immunity 5000, 64 validator permits, min 1 weight, no max-weight limit, "
        "Yuma3 on, 12 s blocks (scale with --block-time: the rules count blocks)",
    ),
}


def profile(name: str) -> Profile:
    """The named profile; ``KeyError`` naming the known ones for another name."""
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"no profile {name!r}; known: {', '.join(PROFILES)}") from None
