"""Reading our weights back: did the chain store what we wrote, and if not, why not?

A weight write that is *included* has not necessarily *landed*. With
commit-reveal on, the SDK's ``bt.SetWeights`` submits a timelocked commit; the
chain decrypts it at the start of epoch ``commit epoch + RevealPeriodEpochs``
and runs every check of a plain ``set_weights`` on it then (subtensor
``coinbase/reveal_commits.rs::reveal_crv3_commits_for_subnet`` calling
``subnets/weights.rs::internal_set_weights``: registration, stake, version key,
validator permit, uids, ``min_allowed_weights``, ``max_weight_limit``),
dropping a commit that fails with nothing but a trace log. So the validator
reads its ``Weights`` row back once the chain must show the write, and compares.

The rule, as the loop applies it (``Validator.check_weights``):

- *What was written*: :func:`submitted_row`, the u16 values the SDK submits
  for the intent, computed by the SDK's own conform step; the chain stores
  exactly those (they are already max-upscaled, and ``internal_set_weights``
  max-upscales again: the identity), so a landed row is equal, not close.
- *When it must show*: :func:`due_block`. Plaintext: at once (the write's
  block). Commit-reveal: ``block + (reveal_period + 1) * tempo +``
  :data:`REVEAL_SLACK_BLOCKS`, a safe bound: the commit is tagged with the
  epoch running at its block (``current_epoch_with_lookahead``); epochs fire
  every ``tempo`` blocks from ``LastEpochBlock`` (``run_coinbase.rs::
  should_run_epoch``), so epoch ``e + k`` starts at most ``k * tempo`` blocks
  after the commit; the chain reveals at the first block of epoch
  ``e + reveal_period``, retries every block of that epoch while the drand
  pulse is missing, and drops the commit once epoch ``e + reveal_period + 1``
  starts (the expiry sweep at the top of ``reveal_crv3_commits_for_subnet``).
  The slack covers epochs the per-block cap defers (``MaxEpochsPerBlock``, 2
  on finney: one block per deferral) and a tempo raised meanwhile.
- *Compare*: :func:`found_write`. The row equal to any write of the check
  (the checked write, or one that landed after it: the chain shows the newest
  revealed one) is "landed"; an empty row is "missing"; another row is
  "different" (most often an older write still in place).
- *Why not*: :func:`likely_reasons`, from what the validator sees now, in the
  order the chain checks: our hotkey no longer registered (deregistered or
  swapped away), at another uid, the subnet's ``weights_version_key`` above
  ours, no validator permit, a destination uid the subnet no longer has, fewer
  entries than ``min_allowed_weights``, a share above ``max_weight_limit``;
  else "unknown", with what to check.

What it cannot tell: a write whose values equal the row already there (the
previous write, unchanged averages) "lands" even if the chain dropped it; the
stake the chain requires to set weights (``WeightsMinStake``) is not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import bittensor as bt
from bittensor.intents.weights import _conform, _Preflight  # the SDK's conform step: no public name
from bittensor.result import BittensorError

from neurons.chain import MetagraphView
from neurons.validating.state import WeightsCheck, WrittenWeights

__all__ = [
    "REVEAL_SLACK_BLOCKS",
    "U16_MAX",
    "Reason",
    "Readback",
    "submitted_row",
    "due_block",
    "found_write",
    "likely_reasons",
    "read_back",
]

U16_MAX = 65535
# Blocks past the reveal epoch's end still allowed for epochs deferred by the per-block cap:
# 128 subnets at finney's MaxEpochsPerBlock of 2 defer one by at most 64 blocks.
REVEAL_SLACK_BLOCKS = 64


@dataclass(frozen=True)
class Reason:
    """One likely reason a write did not land: a short ``code`` (the metric's label) and
    the sentence an operator reads (what the validator sees and what to do)."""

    code: str
    text: str


@dataclass(frozen=True)
class Readback:
    """One read-back: ``outcome`` ``landed`` / ``missing`` / ``different``; ``found`` the
    block of the write seen on chain (landed only); ``reasons`` why not, most likely
    first (empty when landed); ``reason`` the first one's code, ``none`` when landed."""

    outcome: str
    checked_block: int  # the block of the write the check was for
    read_at: int  # the block the row was read at
    due_block: int
    found: int | None
    row: dict[int, int]
    reasons: tuple[Reason, ...] = ()

    @property
    def landed(self) -> bool:
        return self.outcome == "landed"

    @property
    def reason(self) -> str:
        return self.reasons[0].code if self.reasons else "none"


def submitted_row(intent: bt.SetWeights, *, own_uid: int, max_weights_limit: int) -> dict[int, int]:
    """The ``Weights`` row the chain stores when ``intent`` lands: the SDK's conform step
    (``bittensor.intents.weights._conform``, run by ``SetWeights.build``: the
    ``max_weight_limit`` clip, then ``normalize``'s max-upscale to u16 dropping zeros).

    ``max_weights_limit`` is the subnet's, as the round's metagraph read it (the SDK's
    preflight reads it again a moment later). The minimum count is not applied: it
    refuses a write, it does not change the values. {} when the SDK would refuse to
    build the write (all weights zero).
    """
    limits = _Preflight(uid=own_uid, commit_reveal=False, min_allowed_weights=0,
                        max_weight_limit=max_weights_limit)
    try:
        uids, values = _conform(list(intent.uids or []), list(intent.weights or []), limits, intent.netuid)
    except BittensorError:
        return {}
    return dict(zip(uids, values))


def due_block(block: int, *, commit_reveal: bool, reveal_period_epochs: int, tempo: int) -> int:
    """The block from which the chain must show a write included at ``block``
    (plaintext: ``block``; commit-reveal: the bound in the module docstring)."""
    if not commit_reveal:
        return block
    return block + (reveal_period_epochs + 1) * max(tempo, 0) + REVEAL_SLACK_BLOCKS


def found_write(writes: Iterable[WrittenWeights], row: dict[int, int]) -> int | None:
    """The block of the newest write whose row equals ``row``; None when none does."""
    found = None
    for write in writes:
        if row and write.row == row:
            found = write.block
    return found


def likely_reasons(
    check: WeightsCheck,
    metagraph: MetagraphView,
    *,
    hotkey: str,
    version_key: int,
    required_version_key: int,
) -> tuple[Reason, ...]:
    """Why the checked write is not on chain, most likely first, from what we see now.

    In ``internal_set_weights``' order (subtensor ``subnets/weights.rs``): registered
    (``HotKeyNotRegisteredInSubNet``; a different uid means a new registration),
    version key (``check_version_key``: 0 admits every key), validator permit
    (``check_validator_permit``; a single self-weight is exempt, and so is the subnet
    owner, which the metagraph does not show), destination uids (``contains_invalid_uids``),
    count (``check_length``: the minimum is clamped to the subnet's size),
    largest share (``max_weight_limited``: ``max / sum <= limit / 65535``, skipped at
    65535). Never empty: ``unknown`` says what else to check.
    """
    row = check.writes[0].row
    reasons: list[Reason] = []
    me = metagraph.by_hotkey(hotkey)
    self_weight = list(row) == [check.uid]
    if me is None:
        reasons.append(Reason(
            "deregistered",
            f"our hotkey is no longer registered on subnet {metagraph.netuid} (deregistered, or "
            "swapped to another hotkey): the chain drops the weights of an unregistered hotkey; "
            "register again (or run with the new hotkey)",
        ))
    elif me.uid != check.uid:
        reasons.append(Reason(
            "uid_changed",
            f"our hotkey is uid {me.uid} now, the weights were written as uid {check.uid}: it was "
            "registered anew, and the old uid's row is not ours",
        ))
    if required_version_key and version_key < required_version_key:
        reasons.append(Reason(
            "version_key",
            f"the subnet's weights_version_key is {required_version_key}, above ours {version_key}: "
            "the chain refuses every write (IncorrectWeightVersionKey); update the validator to the "
            "subnet's current release and restart",
        ))
    if me is not None and not me.validator_permit and not self_weight:
        reasons.append(Reason(
            "no_permit",
            f"uid {me.uid} has no validator permit in the metagraph: the chain refuses its weights "
            "(NeuronNoValidatorPermit) until it holds enough stake to get one",
        ))
    n = len(metagraph.neurons)
    outside = sorted(dest for dest in row if dest >= n)
    if outside:
        reasons.append(Reason(
            "invalid_uids",
            f"uids {outside} are beyond the subnet's {n} neurons (UidVecContainInvalidOne)",
        ))
    minimum = min(metagraph.min_allowed_weights, n)
    if not self_weight and len(row) < minimum:
        reasons.append(Reason(
            "min_weights",
            f"{len(row)} weights, fewer than the subnet's min_allowed_weights {minimum} "
            "(WeightVecLengthIsLow): the subnet needs more miners with a positive score, or its "
            "owner a lower minimum",
        ))
    limit = metagraph.max_weights_limit
    total = sum(row.values())
    if not self_weight and limit < U16_MAX and total and max(row.values()) * U16_MAX > limit * total:
        reasons.append(Reason(
            "max_weight",
            f"the largest weight is {max(row.values()) / total:.4f} of the total, above the subnet's "
            f"max_weight_limit {limit / U16_MAX:.4f} (MaxWeightExceeded): the limit changed since "
            "the write",
        ))
    if not reasons:
        reasons.append(Reason(
            "unknown",
            "nothing the validator can see explains it: check the hotkey's stake against the "
            "subnet's weights min stake (NotEnoughStakeToSetWeights), whether the chain's drand "
            "pulses are current (a commit revealed without its pulse is dropped), and the chain's "
            "events around the due block",
        ))
    return tuple(reasons)


def read_back(
    check: WeightsCheck,
    row: dict[int, int],
    metagraph: MetagraphView,
    *,
    hotkey: str,
    version_key: int,
    required_version_key: int | None,
) -> Readback:
    """Compare ``row`` (our ``Weights`` row read at ``metagraph.block``) with ``check``.

    ``required_version_key`` (the subnet's) is needed only when the row does not
    match; pass None when it could not be read (the version key is then not judged).
    """
    assert check.due_block is not None, "a check is read back only once its due block is known"
    found = found_write(check.writes, row)
    if found is not None:
        return Readback("landed", checked_block=check.writes[0].block, read_at=metagraph.block,
                        due_block=check.due_block, row=dict(row), found=found)
    reasons = likely_reasons(
        check, metagraph, hotkey=hotkey, version_key=version_key,
        required_version_key=required_version_key or 0,
    )
    return Readback("missing" if not row else "different", checked_block=check.writes[0].block,
                    read_at=metagraph.block, due_block=check.due_block, row=dict(row), found=None,
                    reasons=reasons)
