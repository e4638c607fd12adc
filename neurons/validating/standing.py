"""May this validator ask miners for work? Its own neuron, read from the round's metagraph.

Miners admit a validator by ``neurons.mining.guard.CallerPolicy``: registered
on the subnet, holding a validator permit, with stake at least the miner's
``--miner.min_stake``. A validator that fails any of these gets 403 from every
miner and has its weights ignored by the chain, so it checks itself first and,
when it may not ask, makes no challenge and no weight write. Both sides take
the rule and its order from ``neurons.shared.admission``; the miner side is not
imported (the two sides never import each other), and a validator cannot
know each miner's own ``min_stake``, so it uses its ``--validator.min_stake``,
whose default is the miner's default (``ChainSettings.default_min_stake``).
"""

from __future__ import annotations

from dataclasses import dataclass

from neurons.chain import MetagraphView
from neurons.shared.admission import Broken, first_broken_rule

__all__ = ["Standing", "standing_in"]


@dataclass(frozen=True)
class Standing:
    """This validator's standing in one metagraph.

    ``permitted`` is True when miners would serve it; otherwise ``reason``
    names the first rule it breaks and ``advice`` says what the operator can
    do, both one line for people (both None when permitted). ``uid`` and
    ``stake`` are None when the hotkey is not registered.
    """

    permitted: bool
    uid: int | None
    stake: float | None
    reason: str | None = None
    advice: str | None = None


def standing_in(metagraph: MetagraphView, hotkey: str, *, min_stake: float) -> Standing:
    """``hotkey``'s standing in ``metagraph`` against miners requiring ``min_stake``.

    Checks, in order: registration, validator permit, stake (``stake >=
    min_stake`` passes, as on the miner). Pure: reads nothing but its arguments.
    """
    netuid = metagraph.netuid
    me = metagraph.by_hotkey(hotkey)
    broken = first_broken_rule(me, min_stake=min_stake)
    if me is None:
        return Standing(
            permitted=False, uid=None, stake=None,
            reason=f"hotkey {hotkey} is not registered on netuid {netuid}",
            advice=f"register it again: btcli subnets register --netuid {netuid}",
        )
    if broken is Broken.NO_PERMIT:
        return Standing(
            permitted=False, uid=me.uid, stake=me.stake,
            reason=f"uid {me.uid} has no validator permit (stake {me.stake:g})",
            # The command ends the line: operators copy it from there.
            advice=(
                "permits go to the subnet's top validators by stake and are recomputed every tempo "
                f"({metagraph.tempo} blocks): stake more, then wait for the next permit epoch: "
                f"btcli stake add --netuid {netuid}"
            ),
        )
    if broken is Broken.LOW_STAKE:
        return Standing(
            permitted=False, uid=me.uid, stake=me.stake,
            reason=f"uid {me.uid} has stake {me.stake:g}, under the {min_stake:g} miners require",
            advice=(
                "stake more, or lower --validator.min_stake if this subnet's miners require less: "
                f"btcli stake add --netuid {netuid}"
            ),
        )
    return Standing(permitted=True, uid=me.uid, stake=me.stake)
