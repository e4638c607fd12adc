"""The validator's scoring: pure functions over small frozen values.

Nothing here does I/O, reads a clock or touches the chain; the validator
measures, this module judges, ``neurons.chain`` submits. The formula and the
reasons for each constant are in ``docs/scoring.md``. In short::

    score = 0                                        if not verified, late or broken
    score = w_time * time_component + w_size * size_component   otherwise

    time_component = floor + (1 - floor) * (1 - clip((t - fastest) / span, 0, 1))
                     (neutral_time while the circuit has < min_samples valid times)
    t    = median of the miner's last ``speed_window`` valid times on the circuit
    span = max(slowest - fastest, min_span_s, min(noise_span * jitter, fastest))
    jitter = median over the circuit's miners of the robust spread of their own recent times
    size_component = min_proof_bytes / proof_bytes

The size component is constant today: the verifier rejects any proof whose
length differs from the ``proof_bytes`` its circuit's manifest pins, so every
valid proof of a circuit has the same size and ``size_component`` is 1 for
every valid response (the term adds ``w_size`` to each valid score and ranks
nothing). It is kept for circuits or proof systems whose valid proofs can
differ in size.

``fastest`` and ``slowest`` are the low and high quantiles of a window of
the circuit's recent valid response times (``CircuitStats.times``). A
miner's time is not its single response but the median of its own recent
valid times on the circuit (``CircuitStats.recent``): network jitter moves
one response, not the median, so equally fast miners score alike round to
round while a real speed difference still ranks (docs/scoring.md measures it). Per-miner scores are folded
into an asymmetric moving average (``update_average``: falls faster than it
rises), normalised into weights (``normalized_weights``) fitted to the
subnet's ``min_allowed_weights`` and ``max_weight_limit`` (``conform_weights``)
and turned into the chain write, a ``bt.SetWeights`` intent
(``weights_intent``), which ``ChainAccess.submit`` sends as built.
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
    "typical_time",
    "forget",
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
    "U16_MAX",
    "WeightLimits",
    "ConformedWeights",
    "conform_weights",
    "weights_intent",
]

U16_MAX = 65535  # the chain's weight values and max_weight_limit are u16 fractions of this


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
    noise_span: float = 8.0  # ... and so are differences below this many of a miner's own jitter
    speed_window: int = 16  # a miner's time is the median of its last this many valid times (1: the response's)
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
        if not 0.0 <= self.noise_span or not math.isfinite(self.noise_span):
            raise ValueError("noise_span must be finite and non-negative")
        if self.speed_window < 1:
            raise ValueError("speed_window must be at least 1")


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
    """Per-circuit history: recent valid response times, per miner too, and the smallest valid proof.

    ``times`` holds at most ``ScoringConfig.window`` values, oldest first: the
    circuit's time scale. ``recent`` maps a uid to its own last
    ``ScoringConfig.speed_window`` valid times on this circuit, oldest first:
    what its speed is judged by (``typical_time``). ``min_proof_bytes`` is None
    until a valid proof was seen (or a known minimum was given); it only ever
    decreases.
    """

    times: tuple[float, ...] = ()
    min_proof_bytes: int | None = None
    recent: dict[int, tuple[float, ...]] = field(default_factory=dict)

    def fastest(self, cfg: ScoringConfig) -> float | None:
        """The low quantile of ``times``; None with fewer than ``cfg.min_samples``."""
        return _quantile(self.times, cfg.fast_quantile) if len(self.times) >= cfg.min_samples else None

    def slowest(self, cfg: ScoringConfig) -> float | None:
        """The high quantile of ``times``; None with fewer than ``cfg.min_samples``."""
        return _quantile(self.times, cfg.slow_quantile) if len(self.times) >= cfg.min_samples else None

    def jitter(self, cfg: ScoringConfig) -> float:
        """How much one miner's own valid times scatter on this circuit: the median, over
        the uids with at least ``cfg.min_samples`` recent times, of their robust standard
        deviation (1.4826 x the median absolute deviation from their median); 0 with none.

        A miner's scatter at a steady speed is noise by definition (network jitter, load
        on its prover); the median over miners keeps one erratic miner from setting it.
        """
        spreads = sorted(
            1.4826 * _median([abs(t - _median(ts)) for t in ts])
            for ts in self.recent.values() if len(ts) >= cfg.min_samples
        )
        return _median(spreads) if spreads else 0.0


def _median(values: Iterable[float]) -> float:
    """The median of a non-empty sequence (the mean of the middle two for an even count)."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


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
    the time scale, lower the minimal proof size, nor enter (or push out of)
    the miner's own recent times. A valid one joins ``times`` and the uid's
    ``recent`` (each trimmed to its window, oldest dropped).
    """
    if not response.valid:
        return stats
    assert response.response_s is not None  # implied by valid
    times = (stats.times + (response.response_s,))[-cfg.window :]
    smallest = response.proof_bytes if stats.min_proof_bytes is None else min(
        stats.min_proof_bytes, response.proof_bytes
    )
    recent = dict(stats.recent)
    recent[response.uid] = (recent.get(response.uid, ()) + (response.response_s,))[-cfg.speed_window :]
    return CircuitStats(times=times, min_proof_bytes=smallest, recent=recent)


def typical_time(response: Response, stats: CircuitStats, cfg: ScoringConfig) -> float | None:
    """The time a valid response is judged by: the median of its uid's last
    ``cfg.speed_window`` valid times in ``stats.recent`` (the response's own
    ``response_s`` when the uid has none there); None when the response is not valid.

    ``score_round`` folds the response in first, so its own time is one of
    the median's. With ``speed_window`` 1 this is the response's time alone.
    """
    if not response.valid:
        return None
    own = stats.recent.get(response.uid, ())[-cfg.speed_window :]
    return _median(own) if own else response.response_s


def forget(
    stats: Mapping[str, CircuitStats], keep: Iterable[int]
) -> dict[str, CircuitStats]:
    """``stats`` with every uid's recent times dropped except those of the uids in ``keep``.

    The validator keeps the uids whose average ``reconcile`` kept (same hotkey,
    or a hotkey swap): a miner registered anew in a slot must not inherit its
    predecessor's speed any more than its average, and a departed uid's times
    go with it. The circuits' time windows are left alone: they are the
    scale, not anyone's standing.
    """
    kept = set(keep)
    return {
        cid: s if set(s.recent) <= kept
        else CircuitStats(s.times, s.min_proof_bytes, {u: t for u, t in s.recent.items() if u in kept})
        for cid, s in stats.items()
    }


def time_component(response_s: float, stats: CircuitStats, cfg: ScoringConfig) -> float:
    """Relative speed of time ``response_s`` in [time_floor, 1]; ``neutral_time`` with too little history.

    1 at or below the circuit's fastest (low quantile), ``time_floor`` at or
    above its slowest (high quantile), linear between. The span is at least
    ``min_span_s`` and at least ``noise_span`` times the circuit's ``jitter``
    (capped at ``fastest``), so the scatter of equally fast miners is not
    stretched over the whole score range when they alone set the scale: a
    difference is worth the range only when it is large against the noise
    measured on the same circuit. The cap keeps miners who jitter on purpose
    from flattening the scale: twice the fastest time always earns the floor.
    ``response_score`` passes the miner's ``typical_time``, not one response's time.
    """
    fastest, slowest = stats.fastest(cfg), stats.slowest(cfg)
    if fastest is None or slowest is None:
        return cfg.neutral_time
    span = max(slowest - fastest, cfg.min_span_s, min(cfg.noise_span * stats.jitter(cfg), fastest))
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
    proof): validity is judged per response, never smoothed. Otherwise
    ``w_time * time_component(typical_time) + w_size * size_component``.
    The caller decides whether ``stats`` already include this response;
    ``score_round`` folds a round in first.
    """
    t = typical_time(response, stats, cfg)
    if t is None:
        return 0.0
    return cfg.w_time * time_component(t, stats, cfg) + cfg.w_size * size_component(
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


@dataclass(frozen=True)
class WeightLimits:
    """The subnet's rules a weight vector must satisfy (its hyperparameters).

    ``min_allowed_weights``: the least number of weights. ``max_weight_limit``:
    the largest weight's share of the total, as a u16 fraction of ``U16_MAX``
    (``U16_MAX``: no limit, the chain skips the check). The defaults bind nothing.
    """

    min_allowed_weights: int = 0
    max_weight_limit: int = U16_MAX


@dataclass(frozen=True)
class ConformedWeights:
    """Weights fitted to a subnet's ``WeightLimits``, or why none can be.

    ``weights``: uid -> share, ascending, summing to 1; empty when nothing is to
    be written (no positive score, or ``problem``). ``padded``: the uids that
    were added without a positive score to meet the limits. ``problem``: one
    line saying which limit no vector over the registered uids can meet and
    what the subnet owner or operator can do; None when the weights are fine.
    """

    weights: dict[int, float] = field(default_factory=dict)
    padded: tuple[int, ...] = ()
    problem: str | None = None


def conform_weights(
    scores: Mapping[int, float],
    limits: WeightLimits = WeightLimits(),
    registered: Iterable[int] = (),
    own_uid: int | None = None,
) -> ConformedWeights:
    """Fit ``normalized_weights(scores)`` to the subnet's limits, as the chain checks them.

    The chain (subtensor ``pallets/subtensor/src/subnets/weights.rs``,
    ``internal_set_weights``) refuses a non-self vector with fewer entries
    than ``min(MinAllowedWeights, subnet_n)`` (``check_length``:
    ``WeightVecLengthIsLow``) or whose largest max-upscaled u16 value exceeds
    ``max_weight_limit / U16_MAX`` of their sum (``max_weight_limited`` ->
    ``epoch/math.rs::check_vec_max_limited``: ``MaxWeightExceeded``). The
    bittensor 11 SDK (``bittensor/intents/weights.py::_conform``) clips to the
    max limit (``clip_to_max_weight``: proportional, but it cannot add uids,
    and for ``n * limit <= 1`` returns a uniform vector the chain refuses),
    quantises (``normalize``: max-upscale, round, drop zeros) and then raises
    when fewer than ``min_allowed_weights`` values are non-zero, without the
    chain's clamp to ``subnet_n``. It never pads.

    The rule, in order:

    1. No positive score: empty weights, no problem (nothing to write).
    2. ``min_allowed_weights`` above the number of registered uids (the SDK's
       refusal, stricter than the chain's), or ``max_weight_limit * n <
       U16_MAX`` (no vector of at most ``n`` entries has max/sum within the
       limit): empty weights and ``problem``.
    3. Max limit (when below ``U16_MAX``): too few weighted uids to share the
       weight within the cap get padding uids at the smallest positive weight;
       then every weight above the cap is clipped to it and the excess
       redistributed in proportion over the rest, repeated until none is
       above (water-filling). The cap is lowered by the u16 rounding margin
       ``(n + 1) / (2 * U16_MAX)`` of ``1 / cap`` so the quantised values
       still pass the chain's check; where that leaves too few uids the vector
       is uniform over all ``n`` (exact in u16). The result is returned as
       its u16 values over their sum, so the SDK's quantisation reproduces
       exactly the values checked here.
    4. Min count: when fewer than ``min_allowed_weights`` weights survive
       u16 quantisation (the SDK drops zeros, then counts), positive weights
       below the smallest surviving value (1 of ``U16_MAX`` of the largest)
       are lifted to it, then padding uids get that value until there are
       ``min_allowed_weights`` entries.

    Padding uids are the registered uids without a positive score, ascending,
    ``own_uid`` last (Yuma masks self-weights: ``epoch/run_epoch.rs``,
    ``inplace_mask_diag``). A padded uid never gets more than the worst
    positive uid. With the default limits the result is
    ``normalized_weights(scores)``.
    """
    base = normalized_weights(scores)
    if not base:
        return ConformedWeights()
    uids = sorted(set(registered) | set(base))
    n = len(uids)
    need, limit = limits.min_allowed_weights, limits.max_weight_limit
    if need > n:
        return ConformedWeights(problem=(
            f"the subnet requires at least {need} weights (min_allowed_weights) but only {n} uids "
            "are registered: no weights set; the subnet owner can lower min_allowed_weights, "
            "or more neurons must register"
        ))
    if limit < U16_MAX and limit * n < U16_MAX:
        return ConformedWeights(problem=(
            f"the subnet's max_weight_limit {limit}/{U16_MAX} ({limit / U16_MAX:.4f} of the total) "
            f"needs at least {math.ceil(U16_MAX / max(limit, 1))} weighted uids but only {n} are "
            "registered: no weights set; the subnet owner can raise max_weight_limit, "
            "or more neurons must register"
        ))
    candidates = [u for u in uids if u not in base and u != own_uid]
    candidates += [u for u in uids if u not in base and u == own_uid]
    weights = dict(base)
    padded: list[int] = []
    if limit < U16_MAX:
        cap = 1.0 / (U16_MAX / limit + (n + 1) / (2 * U16_MAX))
        required = math.ceil(1.0 / cap - 1e-12)
        if required > n:
            padded = candidates
            values = {u: U16_MAX for u in uids}
        else:
            smallest = min(base.values())
            for u in candidates[: max(0, required - len(weights))]:
                weights[u] = smallest
                padded.append(u)
            capped = _water_fill(weights, cap)
            top = max(capped.values())
            values = {u: max(1, round(w / top * U16_MAX)) for u, w in capped.items()}
        for u in candidates[len(padded) : len(padded) + max(0, need - len(values))]:
            values[u] = 1
            padded.append(u)
        total = sum(values.values())
        return ConformedWeights({u: values[u] / total for u in sorted(values)}, tuple(sorted(padded)))
    floor = max(weights.values()) / U16_MAX  # quantises to u16 value 1
    # The SDK drops what quantises to 0 before it counts: a tiny positive
    # weight does not count unless lifted to the floor.
    if sum(1 for w in weights.values() if round(w / floor) >= 1) < need:
        weights = {u: max(w, floor) for u, w in weights.items()}
        for u in candidates[: max(0, need - len(weights))]:
            weights[u] = floor
            padded.append(u)
        lifted = math.fsum(weights.values())
        weights = {u: w / lifted for u, w in weights.items()}
    return ConformedWeights({u: weights[u] for u in sorted(weights)}, tuple(sorted(padded)))


def _water_fill(weights: Mapping[int, float], cap: float) -> dict[int, float]:
    """Shares summing to 1 with none above ``cap``: clip, redistribute proportionally, repeat.

    Requires ``len(weights) * cap >= 1`` and positive weights. Each pass
    fixes the uids above the cap at it and scales the rest up to fill the
    remaining ``1 - cap * fixed``; at most ``len(weights)`` passes.
    """
    total = math.fsum(weights.values())
    shares = {u: w / total for u, w in weights.items()}
    fixed: set[int] = set()
    while True:
        free = math.fsum(w for u, w in shares.items() if u not in fixed)
        budget = 1.0 - cap * len(fixed)
        scale = budget / free if free > 0 else 0.0
        out = {u: cap if u in fixed else w * scale for u, w in shares.items()}
        over = {u for u, w in out.items() if u not in fixed and w > cap}
        if not over:
            return out
        fixed |= over


def weights_intent(scores: Mapping[int, float], netuid: int, version_key: int) -> bt.SetWeights | None:
    """The chain write for these scores, as the ``bt.SetWeights`` intent to submit as built.

    Uids ascending, weights ``normalized_weights(scores)`` (positive, finite
    scores only, summing to 1), for ``netuid`` at ``version_key``. None when
    no score is positive: there is nothing to write (weight is never spread
    evenly). The intent is data: building it reads nothing. Pass the
    ``ConformedWeights.weights`` of ``conform_weights`` to meet the subnet's
    limits; the SDK still quantises to u16 and checks the rate limit when it
    is submitted (its max-weight clip and count check then pass unchanged).
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
