"""The validator's scoring: pure functions over small frozen values.

Nothing here does I/O, reads a clock or touches the chain; the validator
measures, this module judges, ``neurons.chain`` submits. The formula and the
reasons for each constant are in ``docs/scoring.md``. In short::

    score = 0                                        if not verified, late or broken
    score = w_time * time_component + w_size * size_component   otherwise

    time_component = floor + (1 - floor) * (1 - clip((t - fastest) / span, 0, 1))
                     (neutral_time while the circuit has < min_samples valid times)
    size_component = min_proof_bytes / proof_bytes

The size component is constant today: the verifier rejects any proof whose
length differs from the ``proof_bytes`` its circuit's manifest pins, so every
valid proof of a circuit has the same size and ``size_component`` is 1 for
every valid response (the term adds ``w_size`` to each valid score and ranks
nothing). It is kept for circuits or proof systems whose valid proofs can
differ in size.

``fastest`` and ``slowest`` are the low and high quantiles of a window of
the circuit's recent valid response times (``CircuitStats``), and
``span = max(slowest - fastest, min_span_s)``. Per-miner scores are folded
into an asymmetric moving average (``update_average``: falls faster than it
rises), normalised into weights (``normalized_weights``) and turned into the
chain write, a ``bt.SetWeights`` intent (``weights_intent``), which
``ChainAccess.submit`` sends as built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import bittensor as bt

__all__ = [
    "ScoringConfig",
    "Response",
    "CircuitStats",
    "ScoredResponse",
    "Reconciled",
    "observe",
    "time_component",
    "size_component",
    "response_score",
    "score_round",
    "RoundSummary",
    "summarize_round",
    "update_average",
    "update_averages",
    "reconcile",
    "normalized_weights",
    "weights_intent",
]


@dataclass(frozen=True)
class ScoringConfig:
    """The constants of the formula; the defaults are argued for in docs/scoring.md."""

    w_time: float = 0.8
    w_size: float = 0.2
    time_floor: float = 0.1  # the slowest valid response still earns this time component
    neutral_time: float = 0.5  # time component while a circuit has too few samples
    min_samples: int = 3  # valid response times needed before times are compared
    window: int = 128  # recent valid response times kept per circuit
    fast_quantile: float = 0.05  # "fastest" = this quantile of the window
    slow_quantile: float = 0.95  # "slowest" = this quantile of the window
    min_span_s: float = 0.05  # differences below this are network jitter, not speed
    rise_alpha: float = 0.1  # moving-average step towards a higher score
    fall_alpha: float = 0.3  # moving-average step towards a lower score

    def __post_init__(self) -> None:
        if not math.isclose(self.w_time + self.w_size, 1.0) or min(self.w_time, self.w_size) < 0:
            raise ValueError("w_time and w_size must be non-negative and sum to 1")
        for name in ("time_floor", "neutral_time", "fast_quantile", "slow_quantile"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        if self.fast_quantile >= self.slow_quantile:
            raise ValueError("fast_quantile must be below slow_quantile")
        if not 0.0 < self.rise_alpha <= 1.0 or not 0.0 < self.fall_alpha <= 1.0:
            raise ValueError("rise_alpha and fall_alpha must be within (0, 1]")
        if self.min_samples < 2 or self.window < self.min_samples:
            raise ValueError("need 2 <= min_samples <= window")
        if self.min_span_s <= 0:
            raise ValueError("min_span_s must be positive")


@dataclass(frozen=True)
class Response:
    """What the validator observed of one miner's answer to one request.

    ``verified`` is True only when a well-formed response arrived and its
    proof was accepted (bound to the issued input, not a replay, SNARK ok).
    ``response_s`` is the wall time from sending the request to having the
    full response, None when nothing usable came back. ``proof_bytes`` is
    ``len(proof.proof)``, 0 when there was no proof.
    """

    uid: int
    circuit_id: str
    verified: bool
    response_s: float | None
    proof_bytes: int
    timeout_s: float

    @property
    def valid(self) -> bool:
        """Verified, timed, on time and carrying a non-empty proof."""
        return (
            self.verified
            and self.response_s is not None
            and math.isfinite(self.response_s)
            and 0.0 <= self.response_s <= self.timeout_s
            and self.proof_bytes > 0
        )


@dataclass(frozen=True)
class CircuitStats:
    """Per-circuit history: recent valid response times and the smallest valid proof.

    ``times`` holds at most ``ScoringConfig.window`` values, oldest first.
    ``min_proof_bytes`` is None until a valid proof was seen (or a known
    minimum was given); it only ever decreases.
    """

    times: tuple[float, ...] = ()
    min_proof_bytes: int | None = None

    def fastest(self, cfg: ScoringConfig) -> float | None:
        """The low quantile of ``times``; None with fewer than ``cfg.min_samples``."""
        return _quantile(self.times, cfg.fast_quantile) if len(self.times) >= cfg.min_samples else None

    def slowest(self, cfg: ScoringConfig) -> float | None:
        """The high quantile of ``times``; None with fewer than ``cfg.min_samples``."""
        return _quantile(self.times, cfg.slow_quantile) if len(self.times) >= cfg.min_samples else None


def _quantile(values: tuple[float, ...], q: float) -> float:
    """Linear-interpolated quantile of a non-empty sequence."""
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def observe(stats: CircuitStats, response: Response, cfg: ScoringConfig) -> CircuitStats:
    """Fold one response into the circuit's stats; invalid responses change nothing.

    Only valid responses count: a late or rejected answer must not stretch
    the time scale or lower the minimal proof size.
    """
    if not response.valid:
        return stats
    assert response.response_s is not None  # implied by valid
    times = (stats.times + (response.response_s,))[-cfg.window :]
    smallest = response.proof_bytes if stats.min_proof_bytes is None else min(
        stats.min_proof_bytes, response.proof_bytes
    )
    return CircuitStats(times=times, min_proof_bytes=smallest)


def time_component(response_s: float, stats: CircuitStats, cfg: ScoringConfig) -> float:
    """Relative speed in [time_floor, 1]; ``neutral_time`` with too little history.

    1 at or below the circuit's fastest (low quantile), ``time_floor`` at or
    above its slowest (high quantile), linear between. The span is at least
    ``min_span_s`` so jitter among equally fast miners is not amplified.
    """
    fastest, slowest = stats.fastest(cfg), stats.slowest(cfg)
    if fastest is None or slowest is None:
        return cfg.neutral_time
    span = max(slowest - fastest, cfg.min_span_s)
    lateness = min(max((response_s - fastest) / span, 0.0), 1.0)
    return cfg.time_floor + (1.0 - cfg.time_floor) * (1.0 - lateness)


def size_component(proof_bytes: int, stats: CircuitStats) -> float:
    """``min_proof_bytes / proof_bytes`` in (0, 1]; 1 when no minimum is known yet.

    A proof smaller than the known minimum scores 1 (it becomes the new
    minimum once ``observe`` folds it in); 0 bytes scores 0. With today's
    circuits this is always 1 for a valid response: the verifier accepts
    only proofs of the length the manifest pins, so all valid sizes are equal.
    """
    if proof_bytes <= 0:
        return 0.0
    if stats.min_proof_bytes is None:
        return 1.0
    return min(stats.min_proof_bytes / proof_bytes, 1.0)


def response_score(response: Response, stats: CircuitStats, cfg: ScoringConfig) -> float:
    """Score one response in [0, 1] against the circuit's stats as given.

    0 when the response is not ``valid`` (unverified, missing, late, no
    proof). Otherwise ``w_time * time_component + w_size * size_component``.
    The caller decides whether ``stats`` already include this response;
    ``score_round`` folds a round in first.
    """
    if not response.valid:
        return 0.0
    assert response.response_s is not None
    return cfg.w_time * time_component(response.response_s, stats, cfg) + cfg.w_size * size_component(
        response.proof_bytes, stats
    )


@dataclass(frozen=True)
class ScoredResponse:
    response: Response
    score: float


def score_round(
    responses: Iterable[Response],
    stats: Mapping[str, CircuitStats],
    cfg: ScoringConfig,
) -> tuple[tuple[ScoredResponse, ...], dict[str, CircuitStats]]:
    """Score one round of responses; returns the scores and the updated stats.

    The round's valid responses are folded into their circuit's stats first,
    then every response is scored against the updated stats: the first round
    with enough miners already compares them, and a miner faster than all
    history is scored against itself (time component 1). Circuits absent from
    ``stats`` start empty. ``stats`` is not mutated.
    """
    batch = tuple(responses)
    updated = dict(stats)
    for r in batch:
        updated[r.circuit_id] = observe(updated.get(r.circuit_id, CircuitStats()), r, cfg)
    scored = tuple(
        ScoredResponse(r, response_score(r, updated.get(r.circuit_id, CircuitStats()), cfg)) for r in batch
    )
    return scored, updated


@dataclass(frozen=True)
class RoundSummary:
    """Aggregates of one round, for logs and dashboards."""

    responses: int
    verified: int  # valid responses (verified, on time, with a proof)
    mean_score: float  # over all responses, 0 when there were none
    mean_response_s: float | None  # over valid responses, None when there were none


def summarize_round(scored: Iterable[ScoredResponse]) -> RoundSummary:
    """Count and average a round's scored responses."""
    batch = tuple(scored)
    valid_times = [s.response.response_s for s in batch if s.response.valid]
    return RoundSummary(
        responses=len(batch),
        verified=len(valid_times),
        mean_score=math.fsum(s.score for s in batch) / len(batch) if batch else 0.0,
        mean_response_s=math.fsum(t for t in valid_times if t is not None) / len(valid_times)
        if valid_times
        else None,
    )


def update_average(previous: float, score: float, cfg: ScoringConfig) -> float:
    """Asymmetric exponential moving average.

    Steps ``fall_alpha`` of the way towards ``score`` when it is below
    ``previous`` and ``rise_alpha`` of the way when it is above: trust is
    lost faster than it is earned.
    """
    alpha = cfg.fall_alpha if score < previous else cfg.rise_alpha
    return previous + alpha * (score - previous)


def update_averages(
    averages: Mapping[int, float], scores: Mapping[int, float], cfg: ScoringConfig
) -> dict[int, float]:
    """Apply ``update_average`` per uid in ``scores``; uids not scored keep their average.

    A uid seen for the first time starts from 0. When a round scores a uid
    more than once, pass the round's mean per uid (the caller's choice).
    """
    out = dict(averages)
    for uid, score in scores.items():
        out[uid] = update_average(out.get(uid, 0.0), score, cfg)
    return out


@dataclass(frozen=True)
class Reconciled:
    """Averages, hotkeys and registration blocks aligned with the metagraph, plus which uids
    were reset (a new registration) and which kept their average through a hotkey swap."""

    averages: dict[int, float] = field(default_factory=dict)
    hotkeys: dict[int, str] = field(default_factory=dict)
    registered: dict[int, int] = field(default_factory=dict)
    reset: tuple[int, ...] = ()  # uids registered anew: the new owner starts at 0
    swapped: tuple[int, ...] = ()  # uids whose owner swapped hotkeys: the average stays


def reconcile(
    averages: Mapping[int, float],
    known_hotkeys: Mapping[int, str],
    current_hotkeys: Mapping[int, str],
    *,
    known_registered: Mapping[int, int] | None = None,
    current_registered: Mapping[int, int] | None = None,
) -> Reconciled:
    """Align per-uid averages with the current uid -> hotkey map.

    A uid whose hotkey differs from the one its average was earned under
    starts again from 0 (a deregistered miner's score must not pass to its
    successor), unless its registration block is the one recorded with the
    average: that is a hotkey swap (subtensor's ``swap_hotkey`` moves ``Uids``
    and ``Keys`` to the new hotkey and leaves ``BlockAtRegistration[uid]``
    alone, while a new registration of the uid sets it anew), and the same
    owner keeps its average. Without a recorded registration block (state from
    an older release, or 0) a changed hotkey is a reset. A uid that has an average but
    no recorded hotkey is treated as changed. Uids absent from
    ``current_hotkeys`` are dropped; new uids start at 0.
    """
    known_blocks = known_registered or {}
    current_blocks = current_registered or {}
    out_avg: dict[int, float] = {}
    reset: list[int] = []
    swapped: list[int] = []
    for uid, hotkey in current_hotkeys.items():
        recorded = known_hotkeys.get(uid)
        if uid in averages and recorded == hotkey:
            out_avg[uid] = averages[uid]
            continue
        block = known_blocks.get(uid, 0)  # 0: unknown (no chain block is 0)
        if uid in averages and recorded is not None and block > 0 and block == current_blocks.get(uid):
            out_avg[uid] = averages[uid]
            swapped.append(uid)
            continue
        out_avg[uid] = 0.0
        if (recorded is not None and recorded != hotkey) or (uid in averages and recorded is None):
            reset.append(uid)
    return Reconciled(
        averages=out_avg,
        hotkeys=dict(current_hotkeys),
        registered={uid: current_blocks[uid] for uid in current_hotkeys if uid in current_blocks},
        reset=tuple(sorted(reset)),
        swapped=tuple(sorted(swapped)),
    )


def normalized_weights(scores: Mapping[int, float]) -> dict[int, float]:
    """Scores scaled to sum to 1, keyed by uid, ascending.

    Non-positive and non-finite scores are left out. When nothing positive
    remains the result is empty: the caller sets no weights (a no-op), it
    does not spread weight evenly.
    """
    kept = {uid: s for uid, s in scores.items() if math.isfinite(s) and s > 0.0}
    total = math.fsum(kept.values())
    if total <= 0.0:
        return {}
    return {uid: kept[uid] / total for uid in sorted(kept)}


def weights_intent(scores: Mapping[int, float], netuid: int, version_key: int) -> bt.SetWeights | None:
    """The chain write for these scores, as the ``bt.SetWeights`` intent to submit as built.

    Uids ascending, weights ``normalized_weights(scores)`` (positive, finite
    scores only, summing to 1), for ``netuid`` at ``version_key``. None when
    no score is positive: there is nothing to write (weight is never spread
    evenly). The intent is data: building it reads nothing; the SDK conforms
    the weights to the subnet (max-weight clip, u16 quantisation) and checks
    the rate limit when it is submitted.
    """
    weights = normalized_weights(scores)
    if not weights:
        return None
    return bt.SetWeights(
        netuid=netuid,
        uids=list(weights),
        weights=list(weights.values()),
        version_key=version_key,
    )
