"""Yuma consensus: the devnet's epoch, as subtensor runs it, as a pure function.

The chain runs ``epoch_mechanism`` (``pallets/subtensor/src/epoch/run_epoch.rs``; its
coinbase calls it per mechanism, ``subnets/mechanism.rs``; ``epoch_dense`` is "only used for
tests"). It has two bonds branches, chosen per subnet by ``Yuma3On``: the original Yuma
(the storage default, ``runtime/src/lib.rs`` ``InitialYuma3On = false``) and Yuma3, which
``subnets/subnet.rs::init_new_network`` switches on for every network registered since
(``set_yuma3_enabled(netuid, true)``). Liquid alpha is off in both (``InitialLiquidAlphaOn =
false``; the devnet does not model it), so both use one fixed alpha. :func:`epoch` follows
``epoch_mechanism`` step by step, in this order:

1. active: ``last_update + activity_cutoff >= block``; the cutoff is
   ``get_activity_cutoff_blocks`` = ``max(1, ActivityCutoffFactorMilli * tempo / 1000)``;
2. stake: raw stake under ``StakeThreshold`` is zeroed (not the owner's), then normalised;
3. permits: the stored permits (owner always on) mask the weights; the new permits are
   ``is_topk_nonzero(stake, MaxAllowedValidators)`` (owner always on);
4. active stake: stake of inactive or unpermitted uids zeroed, normalised;
5. weights: rows of unpermitted uids dropped, the diagonal dropped (the owner's self-weight
   kept), ``W[i, j]`` dropped when ``last_update[i] <= block_at_registration[j]`` (weights set
   before j registered: outdated), rows normalised;
6. consensus: per column, the active-stake-weighted median with ``kappa`` (``weighted_median``,
   the mid-pivot search, ported as is);
7. clipped weights ``min(W, consensus)``; validator trust = row sums of them;
8. rank ``r_j = sum_i clipped_ij * active_stake_i``; incentive = rank normalised;
9. bonds: weights for bonds ``W_b`` interpolate W -> clipped by ``BondsPenalty`` (default 1:
   clipped); stored bonds of columns registered since the last epoch are dropped;
   ``alpha = 1 - BondsMovingAverage/1e6``; then the branch:

   - original Yuma (the ``else`` branch): the stored bonds (column max-upscaled u16) are
     column-normalised; ``delta = W_b * active_stake`` (per row), columns normalised;
     ``ema = alpha * delta + (1 - alpha) * bonds``, columns normalised; dividends
     ``d_i = sum_j ema_ij * incentive_j``, normalised; stored: ``ema`` column max-upscaled;
   - Yuma3 (``if Yuma3On``): the stored bonds are read as fractions, ``u16 / 65535``
     (``get_bonds_sparse_fixed_proportion``), not normalised; ``compute_bonds_sparse`` with
     liquid alpha off is ``mat_ema_sparse(W_b, bonds, compute_disabled_liquid_alpha)``:
     ``ema = alpha * W_b + (1 - alpha) * bonds`` (no stake in it: a bond is the validator's
     own weight, remembered); dividends ``d_i = active_stake_i * sum_j ema_norm_ij *
     incentive_j`` with ``ema_norm`` the column-normalised ``ema``, normalised; stored:
     ``ema`` itself as u16 fractions (no upscaling);

   in both, the bonds are kept only for uids with a new permit.

Where float64 differs from the chain's ``I32F32`` fixed point: the chain rounds every step to
2^-32 and saturates, float64 rounds to ~1e-16 relative; the two agree to ~1e-9, which is far
below a u16 step (1/65535), except where a value lands on a u16 boundary: the chain truncates
(``fixed_proportion_to_u16`` is ``saturating_to_num``, a floor), and :func:`to_u16` floors
``x * 65535 + 1e-6`` so that 1.0 computed as 0.999999999999 still stores 65535 (1e-6 of a u16
step is 1.5e-11 of the fraction, under I32F32's resolution of 2.3e-10). Stake ties in the
top-k permit sort and median pivots compare floats, not fixed-point values; values equal in one
are equal in the other for the stakes a test uses (whole TAO). Not modelled: liquid alpha
(``compute_liquid_alpha_values_sparse``), the emission amounts (the devnet has no emission)
and the "emission is zero, pay by stake" fallback (it changes emission, not the stored
dividends).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "U16_MAX",
    "KAPPA",
    "BONDS_MOVING_AVERAGE",
    "BONDS_PENALTY",
    "ACTIVITY_CUTOFF_FACTOR_MILLI",
    "MAX_ALLOWED_VALIDATORS",
    "STAKE_THRESHOLD",
    "EpochInputs",
    "EpochResult",
    "activity_cutoff_blocks",
    "epoch",
    "to_u16",
]

U16_MAX = 65535
# The runtime's defaults (subtensor runtime/src/lib.rs; pallets/subtensor/src/lib.rs).
KAPPA = 32_767  # SubtensorInitialKappa: "0.5 = 65535/2"
BONDS_MOVING_AVERAGE = 900_000  # SubtensorInitialBondsMovingAverage, of 1_000_000
BONDS_PENALTY = U16_MAX  # SubtensorInitialBondsPenalty
ACTIVITY_CUTOFF_FACTOR_MILLI = 13_889  # INITIAL_ACTIVITY_CUTOFF_FACTOR_MILLI (lib.rs)
MAX_ALLOWED_VALIDATORS = 128  # SubtensorInitialMaxAllowedValidators
STAKE_THRESHOLD = 0  # DefaultStakeThreshold (a chain-wide StorageValue, in rao)


@dataclass(frozen=True)
class EpochInputs:
    """What ``epoch_mechanism`` reads, per uid ``0..n-1`` (``n = len(stake)``).

    ``weights`` and ``bonds`` are the stored u16 rows (``{row_uid: {col_uid: value}}``; weights
    row max-upscaled, bonds column max-upscaled, as the chain stores both); entries naming a
    uid ``>= n`` are ignored. ``permit_overrides`` is the devnet admin's override
    (``{uid: granted}``): it replaces the new permit the stake rank gives that uid.
    ``last_epoch_block`` is the previous epoch's block (subtensor ``LastMechansimStepBlock``):
    bonds on a column registered after it are dropped. ``yuma3`` is the subnet's ``Yuma3On``:
    it picks the bonds branch, and with it how ``bonds`` are read (Yuma3: fractions
    ``u16 / 65535``; original: column max-upscaled).
    """

    block: int
    stake: Sequence[int]
    last_update: Sequence[int]
    block_at_registration: Sequence[int]
    permits: Sequence[bool]
    weights: Mapping[int, Mapping[int, int]]
    bonds: Mapping[int, Mapping[int, int]]
    last_epoch_block: int
    activity_cutoff: int
    max_allowed_validators: int = MAX_ALLOWED_VALIDATORS
    stake_threshold: int = STAKE_THRESHOLD
    kappa: int = KAPPA
    bonds_moving_average: int = BONDS_MOVING_AVERAGE
    bonds_penalty: int = BONDS_PENALTY
    owner_uid: int | None = None
    permit_overrides: Mapping[int, bool] = field(default_factory=dict)
    yuma3: bool = False


@dataclass(frozen=True)
class EpochResult:
    """The epoch's terms per uid, as fractions in [0, 1] (the chain stores them as u16 via
    :func:`to_u16`). ``bonds`` are the rows to store, already u16 and column max-upscaled,
    ``{validator_uid: {miner_uid: u16}}``, present only for uids with a new permit; column
    max-upscaled in the original branch, the EMA's own fractions in Yuma3.
    ``rank`` is the pre-normalisation rank the chain computes (it stores none: Rank and Trust
    are "Deprecated: no longer computed", ``rpc_info/metagraph.rs``)."""

    active: tuple[bool, ...]
    stake: tuple[float, ...]
    active_stake: tuple[float, ...]
    new_permits: tuple[bool, ...]
    consensus: tuple[float, ...]
    validator_trust: tuple[float, ...]
    rank: tuple[float, ...]
    incentive: tuple[float, ...]
    dividends: tuple[float, ...]
    bonds: dict[int, dict[int, int]]


def activity_cutoff_blocks(tempo: int, factor_milli: int = ACTIVITY_CUTOFF_FACTOR_MILLI) -> int:
    """subtensor ``utils/misc.rs::get_activity_cutoff_blocks``: ``max(1, factor * tempo / 1000)``
    (integer division)."""
    return max(1, factor_milli * tempo // 1000)


def to_u16(x: float) -> int:
    """``fixed_proportion_to_u16``: ``floor(x * 65535)`` saturated to 0..65535 (see the module
    docstring for the 1e-6 that absorbs float64 rounding)."""
    return min(U16_MAX, max(0, math.floor(x * U16_MAX + 1e-6)))


def epoch(inputs: EpochInputs) -> EpochResult:
    """Run one Yuma epoch on ``inputs`` (the steps in the module docstring); pure."""
    n = len(inputs.stake)
    block = inputs.block
    last_update = np.asarray(inputs.last_update, dtype=np.int64)
    registered = np.asarray(inputs.block_at_registration, dtype=np.int64)
    owner = inputs.owner_uid if inputs.owner_uid is not None and 0 <= inputs.owner_uid < n else None

    # 1. Active: the uid set weights (or registered) within the activity cutoff.
    active = ~(last_update + inputs.activity_cutoff < block)

    # 2. Stake, thresholded on the raw amount (the owner exempt), normalised.
    raw = np.asarray(inputs.stake, dtype=np.float64)
    filtered = np.where(raw < inputs.stake_threshold, 0.0, raw)
    if owner is not None:
        filtered[owner] = raw[owner]
    stake = _normalize(filtered)

    # 3. Permits: the stored ones mask this epoch's weights; the new ones are the top-k stake.
    permits = np.asarray(inputs.permits, dtype=bool).copy()
    if owner is not None:
        permits[owner] = True
    new_permits = _is_topk_nonzero(stake, inputs.max_allowed_validators)
    if owner is not None:
        new_permits[owner] = True
    for uid, granted in inputs.permit_overrides.items():
        if 0 <= uid < n:
            new_permits[uid] = granted

    # 4. Active stake: only active, permitted validators vote.
    active_stake = _normalize(np.where(active & permits, stake, 0.0))

    # 5. Weights: permitted rows, no self-weight (but the owner's), not outdated, row-normalised.
    weights = _dense(inputs.weights, n)
    weights[~permits, :] = 0.0
    diagonal = np.eye(n, dtype=bool)
    if owner is not None:
        diagonal[owner, owner] = False
    weights[diagonal] = 0.0
    # vec_mask_sparse_matrix(weights, last_update, block_at_registration, updated <= registered)
    weights[last_update[:, None] <= registered[None, :]] = 0.0
    weights = _row_normalize(weights)

    # 6.-7. Consensus, clipping, validator trust.
    kappa = inputs.kappa / U16_MAX
    consensus = _weighted_median_col(active_stake, weights, kappa)
    clipped = np.minimum(weights, consensus[None, :])
    validator_trust = clipped.sum(axis=1)

    # 8. Rank and incentive.
    rank = clipped.T @ active_stake
    incentive = _normalize(rank)

    # 9. Bonds and dividends, by the subnet's branch (both with liquid alpha off).
    penalty = inputs.bonds_penalty / U16_MAX
    weights_for_bonds = weights + penalty * (clipped - weights)
    bonds = _dense(inputs.bonds, n)
    # scalar_vec_mask_sparse_matrix(bonds, last_tempo, registered, last_tempo <= registered)
    bonds[:, inputs.last_epoch_block + 1 <= registered] = 0.0
    alpha = 1.0 - inputs.bonds_moving_average / 1_000_000
    if inputs.yuma3:
        # get_bonds_sparse_fixed_proportion: the stored u16s as fractions.
        fractions = bonds / U16_MAX
        ema, dividends = _yuma3_bonds(weights_for_bonds, fractions, alpha, incentive, active_stake)
        stored = ema
    else:
        ema, dividends = _original_bonds(weights_for_bonds, bonds, alpha, incentive, active_stake)
        stored = _col_max_upscale(ema)
    bond_rows = {
        i: {j: to_u16(stored[i, j]) for j in range(n) if stored[i, j] > 0}
        for i in range(n)
        if new_permits[i]
    }

    return EpochResult(
        active=tuple(bool(a) for a in active),
        stake=_floats(stake),
        active_stake=_floats(active_stake),
        new_permits=tuple(bool(p) for p in new_permits),
        consensus=_floats(consensus),
        validator_trust=_floats(validator_trust),
        rank=_floats(rank),
        incentive=_floats(incentive),
        dividends=_floats(dividends),
        bonds={i: row for i, row in bond_rows.items() if row},
    )


def _original_bonds(
    weights_for_bonds: np.ndarray, bonds: np.ndarray, alpha: float,
    incentive: np.ndarray, active_stake: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """``epoch_mechanism``'s original-Yuma ``else`` branch: ``(ema, dividends)``, ``ema``
    column-normalised (the caller max-upscales it for storage). ``bonds`` are the stored u16s
    (column max-upscaled), masked."""
    bonds = _col_normalize(bonds)
    delta = _col_normalize(weights_for_bonds * active_stake[:, None])  # row_hadamard_sparse
    ema = _col_normalize(alpha * delta + (1.0 - alpha) * bonds)  # compute_ema_bonds_normal_sparse
    return ema, _normalize(ema @ incentive)  # matmul_transpose_sparse


def _yuma3_bonds(
    weights_for_bonds: np.ndarray, bonds: np.ndarray, alpha: float,
    incentive: np.ndarray, active_stake: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """``epoch_mechanism``'s ``if Yuma3On`` branch: ``(ema, dividends)``, ``ema`` as stored.
    ``bonds`` are fractions (``get_bonds_sparse_fixed_proportion``: u16 / 65535), masked.

    ``compute_bonds_sparse`` with liquid alpha off: ``mat_ema_sparse(W_b, bonds, alpha)``,
    which keeps only positive entries (none is negative here). The dividends: ``ema``
    column-normalised, each entry times its column's incentive (``mat_vec_mul_sparse``),
    summed per row (``row_sum_sparse``), times the row's active stake (``vec_mul``),
    normalised."""
    ema = alpha * weights_for_bonds + (1.0 - alpha) * bonds
    ema = np.where(ema > 0, ema, 0.0)
    total_bonds_per_validator = (_col_normalize(ema) * incentive[None, :]).sum(axis=1)
    return ema, _normalize(total_bonds_per_validator * active_stake)


# --- subtensor epoch/math.rs, dense -----------------------------------------------------


def _floats(vector: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in vector)


def _dense(rows: Mapping[int, Mapping[int, int]], n: int) -> np.ndarray:
    matrix = np.zeros((n, n), dtype=np.float64)
    for i, row in rows.items():
        if 0 <= i < n:
            for j, value in row.items():
                if 0 <= j < n:
                    matrix[i, j] = float(value)
    return matrix


def _normalize(vector: np.ndarray) -> np.ndarray:
    """``inplace_normalize``: divide by the sum, unless it is 0."""
    total = vector.sum()
    return vector / total if total != 0 else vector.copy()


def _row_normalize(matrix: np.ndarray) -> np.ndarray:
    """``inplace_row_normalize_sparse``: rows with a positive sum sum to 1."""
    sums = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, sums, out=matrix.copy(), where=sums > 0)


def _col_normalize(matrix: np.ndarray) -> np.ndarray:
    """``inplace_col_normalize_sparse``: columns with a non-zero sum sum to 1."""
    sums = matrix.sum(axis=0, keepdims=True)
    return np.divide(matrix, sums, out=matrix.copy(), where=sums != 0)


def _col_max_upscale(matrix: np.ndarray) -> np.ndarray:
    """``inplace_col_max_upscale_sparse``: each column's largest entry becomes 1."""
    peaks = matrix.max(axis=0, keepdims=True) if matrix.size else matrix
    return np.divide(matrix, peaks, out=matrix.copy(), where=peaks != 0)


def _is_topk_nonzero(vector: np.ndarray, k: int) -> np.ndarray:
    """``is_topk_nonzero``: non-zero entries, minus the ``n - k`` smallest (a stable ascending
    sort, so among equal stakes the lower uid loses first); all non-zero when ``n < k``."""
    n = len(vector)
    result = vector != 0
    if n < k:
        return result
    for idx in sorted(range(n), key=lambda i: vector[i])[: max(0, n - k)]:
        result[idx] = False
    return result


def _weighted_median_col(stake: np.ndarray, score: np.ndarray, majority: float) -> np.ndarray:
    """``weighted_median_col_sparse``: rows with positive stake, stake renormalised over them,
    ``minority = sum - majority``, then :func:`_weighted_median` per column."""
    rows = [i for i in range(len(stake)) if stake[i] > 0]
    use_stake = _normalize(stake[rows]) if rows else np.zeros(0)
    stake_sum = float(use_stake.sum())
    minority = stake_sum - majority
    columns = score.shape[1] if score.ndim == 2 else 0
    return np.array(
        [
            _weighted_median(use_stake, score[rows, j], minority, 0.0, stake_sum)
            for j in range(columns)
        ],
        dtype=np.float64,
    )


def _weighted_median(
    stake: np.ndarray, score: np.ndarray, minority: float, lo: float, hi: float
) -> float:
    """``weighted_median``: the mid-pivot partition search over ``[lo, hi]`` of the stake
    integral, as the chain writes it (the middle index, not a random pivot, for determinism)."""
    partition = list(range(len(stake)))
    for _ in range(len(partition) + 1):
        if not partition:
            return 0.0
        if len(partition) == 1:
            return float(score[partition[0]])
        pivot = score[partition[len(partition) // 2]]
        lower = [i for i in partition if score[i] < pivot]
        upper = [i for i in partition if score[i] > pivot]
        lo_stake = float(sum(stake[i] for i in lower))
        hi_stake = float(sum(stake[i] for i in upper))
        if minority < lo + lo_stake and lower:
            partition, hi = lower, lo + lo_stake
        elif hi - hi_stake <= minority and upper:
            partition, lo = upper, hi - hi_stake
        else:
            return float(pivot)
    return 0.0
