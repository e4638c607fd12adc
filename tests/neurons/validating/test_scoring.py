"""Scoring: what each response earns, how averages move, how weights are built."""

from __future__ import annotations

import math

import bittensor as bt
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from neurons.validating.scoring import (
    CircuitStats,
    Response,
    ScoringConfig,
    forget,
    normalized_weights,
    observe,
    reconcile,
    response_score,
    score_round,
    size_component,
    summarize_round,
    time_component,
    typical_time,
    update_average,
    update_averages,
    weights_intent,
)
from tests.support.properties import PROPERTY

CFG = ScoringConfig()


def resp(uid=0, t=1.0, size=1000, verified=True, timeout=10.0, circuit="c"):
    return Response(
        uid=uid, circuit_id=circuit, verified=verified, response_s=t, proof_bytes=size, timeout_s=timeout
    )


def stats_with(times, min_size=1000):
    return CircuitStats(times=tuple(times), min_proof_bytes=min_size)


# A circuit whose history spans 1 s .. 5 s evenly.
HISTORY = stats_with([1.0 + 4.0 * i / 99 for i in range(100)])


# --- zero scores ---------------------------------------------------------------------------


def test_unverified_response_scores_zero():
    assert response_score(resp(verified=False), HISTORY, CFG) == 0.0


def test_late_response_scores_zero_even_if_verified():
    assert response_score(resp(t=10.5, timeout=10.0), HISTORY, CFG) == 0.0


def test_response_exactly_at_timeout_is_not_late():
    assert response_score(resp(t=10.0, timeout=10.0), HISTORY, CFG) > 0.0


@pytest.mark.parametrize(
    "broken",
    [
        Response(0, "c", True, None, 1000, 10.0),  # no timing: nothing came back
        Response(0, "c", True, float("nan"), 1000, 10.0),
        Response(0, "c", True, -1.0, 1000, 10.0),
        Response(0, "c", True, 1.0, 0, 10.0),  # verified flag but no proof bytes
    ],
)
def test_broken_responses_score_zero(broken):
    assert response_score(broken, HISTORY, CFG) == 0.0


def test_invalid_responses_do_not_change_circuit_stats():
    s = stats_with([1.0] * 10, min_size=1000)
    assert observe(s, resp(t=9.0, size=10, verified=False), CFG) == s
    assert observe(s, resp(t=11.0, size=10, timeout=10.0), CFG) == s


# --- relative time -------------------------------------------------------------------------


def test_fastest_valid_scores_higher_than_slowest_valid():
    fast = response_score(resp(t=1.0), HISTORY, CFG)
    slow = response_score(resp(t=5.0), HISTORY, CFG)
    assert fast > slow > 0.0
    assert fast == pytest.approx(1.0)  # full time and size components


def test_slowest_valid_keeps_the_floor():
    assert time_component(5.0, HISTORY, CFG) == pytest.approx(CFG.time_floor)
    assert time_component(100.0, HISTORY, CFG) == pytest.approx(CFG.time_floor)


def test_time_component_is_relative_not_absolute():
    """Same relative position in two circuits with different speeds gives the same score."""
    quick = stats_with([0.1 + 0.4 * i / 99 for i in range(100)])  # 0.1 .. 0.5 s
    slow = stats_with([10.0 + 40.0 * i / 99 for i in range(100)])  # 10 .. 50 s
    assert time_component(0.3, quick, CFG) == pytest.approx(time_component(30.0, slow, CFG))


def test_time_component_decreases_monotonically():
    values = [time_component(t, HISTORY, CFG) for t in (0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0)]
    assert values == sorted(values, reverse=True)


def test_too_little_data_scores_time_neutrally():
    few = stats_with([1.0] * (CFG.min_samples - 1))
    assert time_component(0.01, few, CFG) == CFG.neutral_time
    assert time_component(100.0, few, CFG) == CFG.neutral_time
    assert time_component(1.0, CircuitStats(), CFG) == CFG.neutral_time


def test_jitter_below_min_span_is_not_amplified():
    """Equal miners 1 ms apart score almost the same."""
    tight = stats_with([1.000 + 0.001 * (i % 3) for i in range(30)])
    a, b = time_component(1.000, tight, CFG), time_component(1.002, tight, CFG)
    assert a - b < 0.05


# --- jitter: a miner's time is the median of its recent valid times ------------------------

# The single-response rule this replaced: each response judged by its own time, the span's
# only floor 50 ms.
OLD_RULE = ScoringConfig(speed_window=1, noise_span=0.0)


def fold(stats, uid, times, cfg=CFG, circuit="c"):
    for t in times:
        stats = observe(stats, resp(uid=uid, t=t, circuit=circuit, timeout=100.0), cfg)
    return stats


def test_a_miners_time_is_the_median_of_its_last_speed_window_valid_times():
    eight = ScoringConfig(speed_window=8)
    s = fold(CircuitStats(), 1, [9.0] + [1.0, 1.2, 1.1, 3.0, 1.3, 1.0, 1.4, 1.2], eight)
    assert s.recent[1] == (1.0, 1.2, 1.1, 3.0, 1.3, 1.0, 1.4, 1.2)  # the 9 s one left the window
    assert typical_time(resp(uid=1, t=3.0), s, eight) == pytest.approx(1.2)
    assert typical_time(resp(uid=1, t=3.0), s, OLD_RULE) == 1.2  # the last one only
    assert typical_time(resp(uid=2, t=3.0), s, CFG) == 3.0  # no history: its own time
    assert typical_time(resp(uid=1, t=3.0, verified=False), s, CFG) is None


def test_invalid_responses_do_not_enter_a_miners_recent_times():
    s = fold(CircuitStats(), 1, [1.0, 1.0, 1.0])
    for bad in (resp(uid=1, t=0.1, verified=False), resp(uid=1, t=20.0), resp(uid=1, t=0.1, size=0)):
        assert observe(s, bad, CFG) == s


def test_one_slow_response_of_a_steadily_fast_miner_barely_moves_its_score():
    """Jitter hits one response: judged by its median, the miner keeps its score; by the
    single response (the old rule) it falls towards the floor of the range."""
    field = fold(CircuitStats(), 9, [1.0 + 0.02 * i for i in range(20)])  # others: 1.0 .. 1.38 s
    steady = fold(field, 1, [1.0] * 7)
    hiccup = resp(uid=1, t=1.3)
    now = observe(steady, hiccup, CFG)
    assert response_score(hiccup, now, CFG) > 0.95
    old = fold(fold(CircuitStats(), 9, [1.0 + 0.02 * i for i in range(20)], OLD_RULE), 1, [1.0] * 7, OLD_RULE)
    assert response_score(hiccup, observe(old, hiccup, OLD_RULE), OLD_RULE) < 0.6


def test_two_equally_fast_miners_swapping_who_is_slower_score_alike_every_round():
    """The jitter finding: two miners at 0.3 s with +-50 ms of jitter who alone set the
    circuit's scale swung between 0.28 and 1.0 round to round. Judged by the medians of their
    last 16 times against a span of at least 8 x their jitter, the per-round gap past the
    first 16 rounds stays under 0.25 and averages under 0.06 (measured 0.17 and 0.04 over
    10 seeds); under the old rule the gap reaches 0.72, all the time range, and averages 0.28."""
    rng = np.random.default_rng(3)
    gaps: dict[str, list[float]] = {"new": [], "old": []}
    for name, cfg in (("new", CFG), ("old", OLD_RULE)):
        stats: dict[str, CircuitStats] = {}
        for _ in range(80):
            a, b = 0.3 + rng.uniform(-0.05, 0.05, size=2)
            scored, stats = score_round([resp(uid=1, t=a), resp(uid=2, t=b)], stats, cfg)
            gaps[name].append(abs(scored[0].score - scored[1].score))
    new, old = gaps["new"][16:], gaps["old"][16:]
    assert max(new) < 0.25 and float(np.mean(new)) < 0.06, (max(new), float(np.mean(new)))
    assert max(old) > 0.6, max(old)


def test_a_real_speed_difference_still_ranks_through_the_median():
    """20% slower, every time, within the same jitter: a lower score in every round."""
    rng = np.random.default_rng(5)
    stats: dict[str, CircuitStats] = {}
    for i in range(40):
        fast, slow = 1.0 + rng.uniform(-0.03, 0.03), 1.2 + rng.uniform(-0.03, 0.03)
        scored, stats = score_round([resp(uid=1, t=fast), resp(uid=2, t=slow)], stats, CFG)
        assert i < 1 or scored[0].score > scored[1].score + 0.3  # first round: neutral on time


def test_the_span_is_at_least_noise_span_times_the_miners_own_jitter():
    """On a 10 s circuit whose two miners sit within 40 ms of each other and each scatters
    by 40 ms, 40 ms is noise (a sixth of the 8 x jitter span), not the whole range."""
    scatter = [10.0, 10.04] * 8
    both = fold(fold(stats_with(scatter), 1, scatter), 2, [t + 0.04 for t in scatter])
    assert both.jitter(CFG) == pytest.approx(1.4826 * 0.02)
    assert time_component(10.04, both, CFG) > 0.8
    assert time_component(10.04, stats_with(scatter), CFG) < 0.5  # no miner's own times: no floor


def test_the_jitter_floor_is_capped_at_the_fastest_time():
    """Miners that scatter wildly on purpose cannot flatten the scale: twice the fastest
    time earns the floor whatever the jitter."""
    wild = CircuitStats(times=(1.0,) * 20, min_proof_bytes=1000, recent={1: (0.5, 3.0) * 8, 2: (0.5, 3.0) * 8})
    assert CFG.noise_span * wild.jitter(CFG) > 1.0
    assert time_component(2.0, wild, CFG) == pytest.approx(CFG.time_floor)


def test_jitter_is_the_median_of_the_miners_robust_spreads_and_zero_without_enough_times():
    s = fold(fold(fold(CircuitStats(), 1, [1.0, 1.0, 1.0]), 2, [1.0, 1.1, 1.2]), 3, [1.0, 2.0, 9.0])
    assert s.jitter(CFG) == pytest.approx(1.4826 * 0.1)  # spreads 0, 0.148, 1.48: the middle one
    assert fold(CircuitStats(), 1, [1.0, 5.0]).jitter(CFG) == 0.0  # fewer than min_samples


def test_forget_drops_the_recent_times_of_uids_not_kept_and_leaves_the_scale():
    s = fold(fold(CircuitStats(), 1, [1.0, 1.1]), 2, [2.0])
    other = fold(CircuitStats(), 2, [3.0])
    out = forget({"c": s, "d": other}, keep={1})
    assert out["c"].recent == {1: (1.0, 1.1)} and out["d"].recent == {}
    assert out["c"].times == s.times and out["c"].min_proof_bytes == s.min_proof_bytes
    assert forget({"c": s}, keep={1, 2})["c"] == s


def test_outliers_do_not_stretch_the_time_scale():
    """One extreme response in the window does not make everyone else look fast."""
    base = [1.0 + i / 99 for i in range(100)]  # 1 .. 2 s
    with_outlier = stats_with(base[1:] + [600.0])
    assert time_component(2.0, with_outlier, CFG) < 0.2


def test_window_is_bounded():
    s = CircuitStats()
    for i in range(CFG.window + 50):
        s = observe(s, resp(t=float(i) / 1000), CFG)
    assert len(s.times) == CFG.window
    assert s.times[-1] == pytest.approx((CFG.window + 49) / 1000)


def test_fastest_and_slowest_are_interpolated_quantiles_whatever_the_order():
    """0..10 s in any order: the 5th percentile is 0.5 s, the 95th 9.5 s (between two samples)."""
    s = CircuitStats(times=(7.0, 2.0, 10.0, 0.0, 5.0, 1.0, 9.0, 3.0, 8.0, 4.0, 6.0))
    assert s.fastest(CFG) == pytest.approx(0.5)
    assert s.slowest(CFG) == pytest.approx(9.5)


def test_quantiles_at_the_ends_are_the_window_minimum_and_maximum():
    cfg = ScoringConfig(fast_quantile=0.0, slow_quantile=1.0)
    s = CircuitStats(times=(3.0, 1.0, 2.0))
    assert (s.fastest(cfg), s.slowest(cfg)) == (1.0, 3.0)


_QUANTILE = st.floats(0.0, 1.0)


@PROPERTY
@given(
    times=st.lists(st.floats(0.0, 1e4), min_size=CFG.min_samples, max_size=CFG.window),
    qs=st.tuples(_QUANTILE, _QUANTILE).filter(lambda q: q[0] < q[1]),
)
@example(times=[0.0, 1.0, 2.0], qs=(0.0, 1.0))
def test_fastest_and_slowest_are_numpys_linear_quantiles(times, qs):
    cfg = ScoringConfig(fast_quantile=qs[0], slow_quantile=qs[1])
    s = CircuitStats(times=tuple(times))
    assert s.fastest(cfg) == pytest.approx(float(np.quantile(times, qs[0])), rel=1e-9, abs=1e-9)
    assert s.slowest(cfg) == pytest.approx(float(np.quantile(times, qs[1])), rel=1e-9, abs=1e-9)


# --- proof size ----------------------------------------------------------------------------


def test_bigger_proof_scores_lower_than_smaller_proof():
    assert response_score(resp(size=1000), HISTORY, CFG) > response_score(resp(size=2000), HISTORY, CFG)
    assert size_component(2000, HISTORY) == pytest.approx(0.5)


def test_size_minimum_only_decreases_and_only_from_valid_proofs():
    s = observe(CircuitStats(), resp(size=1000), CFG)
    s = observe(s, resp(size=5000), CFG)
    assert s.min_proof_bytes == 1000
    s = observe(s, resp(size=10, verified=False), CFG)
    assert s.min_proof_bytes == 1000
    s = observe(s, resp(size=800), CFG)
    assert s.min_proof_bytes == 800


def test_size_component_without_known_minimum_is_one():
    assert size_component(1234, CircuitStats()) == 1.0


def test_empty_proof_earns_no_size_credit_with_or_without_a_known_minimum():
    assert size_component(0, CircuitStats()) == 0.0
    assert size_component(0, HISTORY) == 0.0


def test_a_one_byte_proof_at_the_minimum_earns_full_size_credit():
    assert size_component(1, CircuitStats(min_proof_bytes=1)) == 1.0


def test_proof_smaller_than_the_known_minimum_earns_full_size_credit_not_more():
    assert size_component(500, HISTORY) == 1.0  # HISTORY's minimum is 1000 bytes
    assert response_score(resp(t=1.0, size=500), HISTORY, CFG) == pytest.approx(1.0)


@PROPERTY
@given(
    t=st.floats(0.0, 12.0),  # the timeout is 10 s: some are late
    size=st.integers(1, 4000),
    verified=st.booleans(),
    history=st.lists(st.floats(0.0, 10.0), max_size=CFG.window),
    min_size=st.none() | st.integers(1, 4000),
)
def test_every_response_scores_within_zero_and_one_and_only_valid_ones_above_zero(
    t, size, verified, history, min_size
):
    response = Response(0, "c", verified, t, size, timeout_s=10.0)
    score = response_score(response, CircuitStats(tuple(history), min_size), CFG)
    assert 0.0 <= score <= 1.0
    assert (score > 0.0) == response.valid


# --- a round -------------------------------------------------------------------------------


def test_score_round_with_too_little_history_is_neutral_on_time():
    n = CFG.min_samples - 1
    responses = [resp(uid=u, t=1.0 + u) for u in range(n)]
    scored, stats = score_round(responses, {}, CFG)
    expected = CFG.w_time * CFG.neutral_time + CFG.w_size * 1.0
    assert [s.score for s in scored] == pytest.approx([expected] * n)
    assert len(stats["c"].times) == n


def test_first_round_with_enough_miners_already_ranks_them_by_time():
    responses = [resp(uid=u, t=1.0 + u) for u in range(CFG.min_samples)]
    scored, _ = score_round(responses, {}, CFG)
    scores = [s.score for s in scored]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[-1]


def test_score_round_folds_the_round_in_before_scoring_and_does_not_mutate_input():
    before = {"c": stats_with([2.0] * 20)}
    responses = [resp(uid=1, t=0.5), resp(uid=2, t=2.0, verified=False)]
    scored, after = score_round(responses, before, CFG)
    assert before["c"].times == (2.0,) * 20
    assert after["c"].times[-1] == 0.5
    assert scored[0].score == pytest.approx(1.0)
    assert scored[1].score == 0.0


def test_score_round_keeps_circuits_apart():
    before = {
        "a": stats_with([1.0 + i / 10 for i in range(20)]),
        "b": stats_with([10.0 + i for i in range(20)]),
    }
    scored, _ = score_round([resp(uid=1, t=1.0, circuit="a"), resp(uid=2, t=10.0, circuit="b")], before, CFG)
    assert scored[0].score == pytest.approx(scored[1].score)


def test_summarize_round_counts_valid_and_averages():
    scored, _ = score_round([resp(uid=1, t=1.0), resp(uid=2, t=3.0), resp(uid=3, verified=False)], {}, CFG)
    summary = summarize_round(scored)
    assert (summary.responses, summary.verified) == (3, 2)
    assert summary.mean_response_s == pytest.approx(2.0)
    assert summary.mean_score == pytest.approx(sum(s.score for s in scored) / 3)


def test_summarize_empty_round():
    summary = summarize_round(())
    s = summary
    assert (s.responses, s.verified, s.mean_score, s.mean_response_s) == (0, 0, 0.0, None)


# --- moving average ------------------------------------------------------------------------


def test_average_falls_faster_on_failure_than_it_rises_on_success():
    up = update_average(0.5, 1.0, CFG) - 0.5
    down = 0.5 - update_average(0.5, 0.0, CFG)
    assert down > up > 0


def test_repeated_failures_drain_the_average_quicker_than_successes_fill_it():
    a = 0.0
    rounds_to_rise = 0
    while a < 0.5:
        a = update_average(a, 1.0, CFG)
        rounds_to_rise += 1
    a, rounds_to_fall = 1.0, 0
    while a > 0.5:
        a = update_average(a, 0.0, CFG)
        rounds_to_fall += 1
    assert rounds_to_fall < rounds_to_rise


def test_average_steps_rise_alpha_up_and_fall_alpha_down_of_the_way_to_the_score():
    assert update_average(0.5, 1.0, CFG) == pytest.approx(0.5 + 0.1 * 0.5)
    assert update_average(0.5, 0.0, CFG) == pytest.approx(0.5 - 0.3 * 0.5)
    assert update_average(0.4, 0.4, CFG) == 0.4


@PROPERTY
@given(previous=st.floats(0.0, 1.0), score=st.floats(0.0, 1.0))
def test_average_moves_towards_the_score_and_never_past_it(previous, score):
    new = update_average(previous, score, CFG)
    assert min(previous, score) <= new <= max(previous, score)


def test_update_averages_steps_from_the_uids_own_previous_average():
    assert update_averages({1: 0.6, 2: 0.6}, {1: 1.0, 2: 0.0}, CFG) == pytest.approx({1: 0.64, 2: 0.42})


def test_update_averages_new_uid_starts_from_zero_and_unscored_uids_keep_theirs():
    out = update_averages({1: 0.6}, {2: 1.0}, CFG)
    assert out[1] == 0.6
    assert out[2] == pytest.approx(CFG.rise_alpha)


# --- weights -------------------------------------------------------------------------------


def test_normalized_weights_sum_to_one_and_drop_zero_and_bad_values():
    w = normalized_weights({3: 0.3, 1: 0.1, 2: 0.0, 4: -1.0, 5: float("nan")})
    assert list(w) == [1, 3]
    assert math.fsum(w.values()) == pytest.approx(1.0)
    assert w[3] == pytest.approx(0.75)


def test_all_zero_scores_give_no_weights_and_no_intent():
    assert normalized_weights({1: 0.0, 2: 0.0}) == {}
    assert normalized_weights({}) == {}
    assert weights_intent({1: 0.0, 2: -0.5, 3: float("nan")}, netuid=7, version_key=1) is None
    assert weights_intent({}, netuid=7, version_key=1) is None


def test_weights_intent_is_a_set_weights_for_the_netuid_and_version():
    intent = weights_intent({5: 1.0, 2: 3.0}, netuid=7, version_key=42)
    assert isinstance(intent, bt.SetWeights)
    assert intent.netuid == 7 and intent.version_key == 42
    assert intent.uids == [2, 5]
    assert intent.weights == pytest.approx([0.75, 0.25])


def test_weights_intent_lists_uids_ascending_whatever_order_the_scores_come_in():
    intent = weights_intent({9: 0.1, 3: 0.2, 7: 0.3, 1: 0.4}, netuid=7, version_key=0)
    assert intent.uids == [1, 3, 7, 9]
    assert intent.weights == pytest.approx([0.4, 0.2, 0.3, 0.1])


def test_weights_intent_leaves_out_non_positive_and_non_finite_scores_and_sums_to_one():
    scores = {1: 0.5, 2: 0.0, 3: -1.0, 4: float("nan"), 5: float("inf"), 6: 1.5}
    intent = weights_intent(scores, netuid=7, version_key=0)
    assert intent.uids == [1, 6]
    assert math.fsum(intent.weights) == pytest.approx(1.0)
    assert intent.weights == pytest.approx([0.25, 0.75])


# What the validator passes: averages in [0, 1], plus the junk the filter is there for.
_AVERAGE_OR_JUNK = st.floats(0.0, 1.0) | st.sampled_from(
    [-1.0, -0.0, float("nan"), float("inf"), -float("inf")]
)


@PROPERTY
@given(scores=st.dictionaries(st.integers(0, 255), _AVERAGE_OR_JUNK))
def test_normalized_weights_keep_positive_finite_scores_ascending_in_proportion(scores):
    kept = {uid: s for uid, s in scores.items() if math.isfinite(s) and s > 0.0}
    w = normalized_weights(scores)
    assert list(w) == sorted(kept)
    if kept:
        assert math.fsum(w.values()) == pytest.approx(1.0)
        top = max(kept, key=kept.get)
        for uid, score in kept.items():  # each weight in proportion to its score
            assert w[uid] * kept[top] == pytest.approx(w[top] * score, rel=1e-9)


# --- reconcile -----------------------------------------------------------------------------


def test_uid_whose_hotkey_changed_starts_from_zero():
    r = reconcile({1: 0.9, 2: 0.8}, {1: "hk1", 2: "hk2"}, {1: "hk1", 2: "new"})
    assert r.averages == {1: 0.9, 2: 0.0}
    assert r.hotkeys == {1: "hk1", 2: "new"}
    assert r.reset == (2,)


def test_reconcile_drops_departed_uids_and_adds_new_ones_at_zero():
    r = reconcile({1: 0.9, 3: 0.4}, {1: "hk1", 3: "hk3"}, {1: "hk1", 4: "hk4"})
    assert r.averages == {1: 0.9, 4: 0.0}
    assert r.hotkeys == {1: "hk1", 4: "hk4"}
    assert r.reset == ()


def test_a_hotkey_swap_keeps_the_average_and_a_new_registration_resets_it():
    """Same registration block under a new hotkey: subtensor's swap_hotkey (the owner's own
    move), so the average stays. A new block: the uid was registered anew, so it starts at 0."""
    r = reconcile({1: 0.9, 2: 0.8}, {1: "hk1", 2: "hk2"}, {1: "swapped", 2: "newcomer"},
                  known_registered={1: 50, 2: 60}, current_registered={1: 50, 2: 900})
    assert r.averages == {1: 0.9, 2: 0.0}
    assert (r.swapped, r.reset) == ((1,), (2,))
    assert r.hotkeys == {1: "swapped", 2: "newcomer"} and r.registered == {1: 50, 2: 900}


@pytest.mark.parametrize("known", [{}, {1: 0}], ids=["none-recorded", "zero"])
def test_without_a_recorded_registration_block_a_new_hotkey_is_a_reset(known):
    """State from before registration blocks were kept (or a block of 0, which no chain block
    is) cannot tell a swap from a new owner: the safe answer is a reset."""
    r = reconcile({1: 0.9}, {1: "hk1"}, {1: "other"}, known_registered=known, current_registered={1: 0})
    assert r.averages == {1: 0.0} and r.reset == (1,) and r.swapped == ()


def test_average_without_a_recorded_hotkey_is_not_trusted():
    r = reconcile({1: 0.9}, {}, {1: "hk1"})
    assert r.averages == {1: 0.0}
    assert r.reset == (1,)


# --- config --------------------------------------------------------------------------------


def _config_id(kwargs: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in kwargs.items()) or "defaults"


def test_default_constants_are_the_documented_ones():
    """docs/scoring.md argues for exactly these; changing one is a change of the reward."""
    cfg = ScoringConfig()
    assert (cfg.w_time, cfg.w_size, cfg.time_floor, cfg.neutral_time) == (0.8, 0.2, 0.1, 0.5)
    assert (cfg.min_samples, cfg.window, cfg.fast_quantile, cfg.slow_quantile) == (3, 128, 0.05, 0.95)
    assert (cfg.min_span_s, cfg.rise_alpha, cfg.fall_alpha) == (0.05, 0.1, 0.3)
    assert (cfg.noise_span, cfg.speed_window) == (8.0, 16)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"w_time": 1.0, "w_size": 0.0},
        {"w_time": 0.0, "w_size": 1.0},
        {"time_floor": 0.0, "neutral_time": 0.0},
        {"time_floor": 1.0, "neutral_time": 1.0},
        {"fast_quantile": 0.0, "slow_quantile": 1.0},
        {"rise_alpha": 1.0, "fall_alpha": 1.0},
        {"min_samples": 2, "window": 2},
        {"min_span_s": 0.001},
        {"noise_span": 0.0, "speed_window": 1},
    ],
    ids=_config_id,
)
def test_config_at_the_edges_of_each_range_is_accepted(kwargs):
    cfg = ScoringConfig(**kwargs)
    assert all(getattr(cfg, k) == v for k, v in kwargs.items())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"w_time": 0.9, "w_size": 0.2},
        {"w_time": 1.2, "w_size": -0.2},
        {"w_time": -0.2, "w_size": 1.2},
        {"time_floor": 1.5},
        {"time_floor": -0.1},
        {"neutral_time": 1.01},
        {"fast_quantile": -0.1},
        {"slow_quantile": 1.1},
        {"fast_quantile": 0.9, "slow_quantile": 0.1},
        {"fast_quantile": 0.5, "slow_quantile": 0.5},
        {"rise_alpha": 0.0},
        {"rise_alpha": 1.5},
        {"fall_alpha": 0.0},
        {"fall_alpha": 1.5},
        {"min_samples": 1},
        {"window": 4, "min_samples": 8},
        {"min_span_s": 0.0},
        {"min_span_s": -1.0},
        {"noise_span": -0.1},
        {"noise_span": math.inf},
        {"speed_window": 0},
    ],
    ids=_config_id,
)
def test_bad_config_is_refused(kwargs):
    with pytest.raises(ValueError):
        ScoringConfig(**kwargs)
