"""``neurons.devnet.yuma.epoch`` on its own: the rules the SDK contract tests do not reach
(the subnet owner, ties in the permit rank, bonds on a re-registered uid, the u16 rounding).
Expected values are worked out by hand from subtensor's ``epoch_mechanism``."""

from __future__ import annotations

import pytest

from neurons.devnet import yuma
from neurons.devnet.yuma import U16_MAX, EpochInputs, epoch, to_u16


def _inputs(**changes) -> EpochInputs:
    """Validators 0 (300) and 1 (100), miners 2 and 3; everyone updated at block 90, registered
    at block 1; epoch at block 100, previous epoch at 96."""
    base = dict(
        block=100, stake=[300, 100, 0, 0], last_update=[90] * 4, block_at_registration=[1] * 4,
        permits=[True, True, False, False], weights={0: {2: U16_MAX}, 1: {2: U16_MAX}},
        bonds={}, last_epoch_block=96, activity_cutoff=55,
    )
    base.update(changes)
    return EpochInputs(**base)


def test_the_owners_self_weight_is_kept_and_counts():
    # uid 0 owns the subnet and weights itself; mask_diag_sparse_except_index keeps that entry.
    # Column 0: scores (1, 0) on stake (.75, .25): the median is 1, so the self-weight is not
    # clipped and the owner takes the incentive; uid 1's weight on miner 2 (median 0) is clipped.
    result = epoch(_inputs(owner_uid=0, weights={0: {0: U16_MAX}, 1: {2: U16_MAX}}))
    assert result.consensus == (1.0, 0.0, 0.0, 0.0)
    assert result.incentive == (1.0, 0.0, 0.0, 0.0)


def test_the_owners_stake_passes_the_threshold_and_its_permit_is_forced():
    # uid 1 owns the subnet: its 100 is under the threshold 200 but kept, and though its stored
    # permit is off it votes (the epoch forces the owner's permit on, old and new).
    result = epoch(_inputs(owner_uid=1, stake_threshold=200, permits=[True, False, False, False]))
    assert result.stake == (0.75, 0.25, 0.0, 0.0)
    assert result.active_stake == (0.75, 0.25, 0.0, 0.0)
    assert result.new_permits == (True, True, False, False)


def test_a_non_owner_self_weight_is_masked_and_stake_under_the_threshold_counts_as_none():
    result = epoch(_inputs(stake_threshold=200, weights={0: {0: U16_MAX, 2: U16_MAX}, 1: {3: U16_MAX}}))
    # uid 1's 100 < 200: zero stake, no new permit, no vote; uid 0's self-weight dropped, its
    # row renormalises onto uid 2 alone.
    assert result.stake == (1.0, 0.0, 0.0, 0.0)
    assert result.new_permits == (True, False, False, False)
    assert result.incentive == (0.0, 0.0, 1.0, 0.0)


def test_equal_stakes_lose_the_last_permit_slot_lowest_uid_first():
    # is_topk_nonzero: a stable ascending sort drops the n - k smallest; among equal stakes the
    # lower uid comes first: 4 uids, k = 2 drops uid 3 (no stake) and uid 0 (first of the 100s).
    result = epoch(_inputs(stake=[100, 100, 100, 0], max_allowed_validators=2))
    assert result.new_permits == (False, True, True, False)
    result = epoch(_inputs(stake=[100, 100, 100, 0], max_allowed_validators=5))
    assert result.new_permits == (True, True, True, False)  # n < k: every non-zero stake


def test_bonds_on_a_uid_registered_since_the_last_epoch_are_dropped():
    # Stored bonds: validator 0 holds 65535 on miners 2 and 3; miner 3 re-registered at block 97,
    # after the previous epoch (96): its column is masked (last_tempo 97 <= 97), miner 2's kept.
    # This epoch both validators weight only miner 2, so miner 3's bond would otherwise survive
    # the EMA as .9 of the old one.
    result = epoch(_inputs(block_at_registration=[1, 1, 1, 97], bonds={0: {2: U16_MAX, 3: U16_MAX}}))
    assert set(result.bonds[0]) == {2}
    # Miner 2: old bonds (1, 0) normalised, delta = stake shares (.75, .25): ema = .1 * delta +
    # .9 * old = (.975, .025); max-upscaled: 1 and .025/.975.
    assert result.bonds == {0: {2: U16_MAX}, 1: {2: to_u16(.025 / .975)}}


def test_u16_storage_truncates_like_fixed_proportion_to_u16_and_absorbs_float_error():
    assert to_u16(0.99) == 64879  # 64879.65, truncated, not rounded
    assert to_u16(1 - 1e-12) == U16_MAX  # float noise on 1.0 still stores the full u16
    assert to_u16(1.5) == U16_MAX and to_u16(-0.1) == 0
    assert yuma.activity_cutoff_blocks(10) == 138 and yuma.activity_cutoff_blocks(0) == 1


def test_yuma3_reads_stored_bonds_as_fractions_drops_a_reregistered_column_and_stores_the_ema_as_is():
    # The case of the original-branch test above, with Yuma3On: validator 0 holds 65535 (1.0 as
    # a fraction) on miners 2 and 3, miner 3 re-registered at block 97 (masked). Both validators
    # weight miner 2 only (consensus 1, clipped = W_b = 1 for both).
    result = epoch(_inputs(block_at_registration=[1, 1, 1, 97], bonds={0: {2: U16_MAX, 3: U16_MAX}},
                           yuma3=True))
    # ema = .1 * W_b + .9 * B: validator 0 on miner 2: .1 + .9 * 1 = 1; validator 1: .1 (no bond
    # before); miner 3's column is masked, so validator 0 keeps nothing there (unmasked it would
    # keep .9). Stored as the fractions themselves, not max-upscaled (the original stores
    # validator 1's as .025 / .975 of the column's largest).
    assert result.bonds == {0: {2: U16_MAX}, 1: {2: to_u16(.1)}}
    # Dividends: ema column-normalised on miner 2 (1 / 1.1, .1 / 1.1) times its incentive 1,
    # times the active stake (.75, .25): .75 / 1.1 and .025 / 1.1, normalised.
    total = .75 / 1.1 + .025 / 1.1
    assert result.dividends[:2] == pytest.approx((.75 / 1.1 / total, .025 / 1.1 / total), abs=1e-12)
