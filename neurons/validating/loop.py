"""The validator's loop: challenge every serving miner, score, persist, set weights.

A round, in order: read the metagraph; read our weights back if a write is
due (``check_weights``: ``neurons.validating.readback`` has the rule; a
write that did not land is a WARNING with the likely reason, a metric and an
alarm; this runs in skipped rounds too); check our own standing in it
(``neurons.validating.standing``: registered, validator permit, stake at
least ``min_stake``, the rules miners admit validators by). A validator that
may not ask for work skips the round: no challenge, no weight write, the
averages and state untouched (no miner is charged for our missing permit),
one WARNING saying why and what to do, ``validator_permitted`` 0, and the
report records ``skipped``; the next round checks again, so challenges
resume once the permit or stake is back, on the kept averages. Else: align
stored averages with the metagraph (a uid whose hotkey changed starts from
zero); challenge every serving miner except
ourselves once, shuffled, at most ``concurrency`` at a time (default 256:
all of a full subnet at once, so silent miners cost the round one timeout in
all, not one per batch; waiting costs nothing, and verification is bounded by
the verifier's worker processes, not by this), each with its
own fresh input for a randomly chosen circuit (a challenge that raises is
logged as a ``validator_error`` record; the round goes on). The circuit is drawn
from all of ours, as before; it is sent only if the miner serves it, as its
``Capabilities`` (``neurons.validating.capabilities``: asked now and then beside the
rounds, kept) say. With ``pins`` (a ``neurons.shared.pins.PinWatcher``), each round first
polls the subnet owner's circuit pin (one storage read) and draws only from the circuits it
allows (on public networks: the pinned ones; a new pin applies from that round on); when it
allows none, the round is skipped as for our standing. As for capabilities:
a circuit it does not list is recorded ``http_error`` "not served" without a query
(charged as the 404 ``unknown_circuit`` it would be answered, so serving fewer circuits
never pays), and a miner whose capabilities are not known (not answered yet, or not
at all) is challenged as if it served everything. Never more work than a miner takes at once: one challenge per miner per
round, and rounds do not overlap, so at most one request of ours is in flight to a miner,
within any lane's ``max_concurrent`` (at least 1). Client requests of the validator's API
share that room, and go first: every challenge holds a slot of the miner's lane
(``neurons.validating.slots.MinerSlots``, shared with ``neurons.validating.dispatch``)
while it is in flight, and waits while client requests hold or wait for the lane's
slots, for at most ``MAX_YIELD_S`` (then it takes the next free slot: clients delay a
challenge, never starve it). Unless
``allow_private_axons``, a miner whose axon IP is not globally routable
(loopback, private, link-local, unspecified, reserved, multicast) is not
queried: on a real network such an address is a misconfiguration at best and
points the validator at its own network at worst. Then: score the round,
leaving out ``validator_error`` and ``forbidden`` records (the validator's
own problems are not charged to miners: a uid with nothing else this round
keeps its average; ``forbidden`` answers are also one WARNING per round);
fold the scores into the per-miner moving averages (registered uids not
challenged, because they do not serve or sit at such an address, score
zero); write the state atomically; submit the averages' weights (the
chain's rate limit decides, in the SDK's preflight; a refused or failed write
is logged and tried again next round; the round stands); then append the
round to ``reports.jsonl`` (``neurons.validating.reports``: a line torn by a
crash is cut at the next append). A crash between the state save and that
append loses the round's report line, never its scores.

Every collaborator is injected; ``neurons.validating.service`` builds the real ones.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import bittensor as bt
import numpy as np

from neurons.chain import ChainAccess, ChainFailure, MetagraphView, NeuronInfo, WriteResult
from neurons.shared.addresses import routable
from neurons.shared.daemon import until_stopped
from neurons.shared.pins import PinWatcher
from neurons.validating import readback, reports, scoring
from neurons.validating.capabilities import CapabilityBook
from neurons.validating.challenge import (
    ChallengeCircuit,
    InputSampler,
    Outcome,
    ResponseRecord,
    SampleFn,
    VerifyFn,
    challenge_miner,
)
from neurons.validating.client import MinerClient
from neurons.validating.receipts import ReceiptFolder
from neurons.validating.replay_guard import ReplayGuard
from neurons.validating.slots import MinerSlots, lane_key
from neurons.validating.standing import Standing, standing_in
from neurons.validating.state import StateStore, ValidatorState, WeightsCheck, WrittenWeights
from utils.metrics import Metrics, weights_stale
from utils.wandb_log import NullLogger, RunLogger

__all__ = ["Validator", "RoundReport", "FORBIDDEN_GRACE_S", "MAX_CHECKED_WRITES"]

log = logging.getLogger("validator")

# How long after our metagraph first shows us permitted a miner's 403 "forbidden" is not
# charged to it: twice the miners' default metagraph resync interval (60 s).
FORBIDDEN_GRACE_S = 120.0
# Writes that count as "ours on chain" for one pending read-back (the checked one, then the
# newest landed after it): a bound on the state file, far above the commits one reveal
# period holds at any rate limit that matters.
MAX_CHECKED_WRITES = 16


@dataclass(frozen=True)
class RoundReport:
    """One round: its records (challenged miners only) and every scored miner's score.

    ``scores`` has every registered uid except ours and those whose every
    record this round was not charged (``validator_error``, ``forbidden``:
    not scored, average kept). ``skipped`` is why the round challenged no one
    (we may not ask for work: the standing's reason), else None; a skipped
    round has no records, no scores and no weight write.
    """

    index: int
    block: int
    records: tuple[ResponseRecord, ...]
    scores: dict[int, float]  # this round's score per scored uid
    averages: dict[int, float]  # moving averages after the round
    weights: WriteResult | None  # the weight write this round made, if any
    skipped: str | None = None  # why no miner was challenged this round (our standing), if so


class Validator:
    """Runs rounds over the miners of ``netuid``; see the module docstring.

    ``sample(circuit, rng)`` draws each challenge's input (default:
    ``InputSampler``, the circuit's pinned samples and spec through
    ``models.sampling``), with ``rng`` (default: fresh OS entropy).
    ``allow_private_axons`` lets it query axons on loopback or private
    addresses: for test networks on one machine or a LAN (the wiring turns it
    on for the devnet and ``--validator.allow_private_axons``); off, such
    miners score zero as if they did not serve. ``min_stake`` is the least
    stake miners require of a validator (their ``--miner.min_stake``; the
    wiring passes ``--validator.min_stake``, whose default is the miner's):
    below it, or without a permit, rounds are skipped (module docstring). The
    default 0 checks registration and permit only. ``receipts`` (a
    ``ReceiptFolder``; None keeps none) receives the signed receipt of every
    accepted answer (``challenge_miner``). ``capabilities`` (default: a
    ``CapabilityBook`` over ``client``) says what each miner serves.
    """

    def __init__(
        self,
        *,
        wallet: bt.Wallet,
        chain: ChainAccess,
        netuid: int,
        circuits: Sequence[ChallengeCircuit],
        client: MinerClient,
        verify: VerifyFn,
        store: StateStore,
        guard: ReplayGuard,
        version_key: int,
        sample: SampleFn | None = None,
        rng: np.random.Generator | None = None,
        metrics: Metrics | None = None,
        run_logger: RunLogger | None = None,
        cfg: scoring.ScoringConfig = scoring.ScoringConfig(),
        concurrency: int = 256,
        allow_private_axons: bool = False,
        min_stake: float = 0.0,
        forbidden_grace_s: float = FORBIDDEN_GRACE_S,
        reports_path: Path | None = None,
        reports_max_bytes: int = 64 * 1024 * 1024,
        receipts: ReceiptFolder | None = None,
        clock: Callable[[], float] = time.time,
        capabilities: CapabilityBook | None = None,
        pins: PinWatcher | None = None,
        slots: MinerSlots | None = None,
    ) -> None:
        if not circuits:
            raise ValueError("a validator needs at least one circuit")
        self.wallet = wallet
        self.hotkey: str = wallet.hotkey.ss58_address
        self.chain = chain
        self.netuid = netuid
        self.circuits = list(circuits)
        self.client = client
        self.capabilities = capabilities if capabilities is not None else CapabilityBook(client)
        self.pins = pins
        self.slots = slots if slots is not None else MinerSlots()
        self.verify = verify
        self.store = store
        self.guard = guard
        self.version_key = version_key
        self.sample = sample if sample is not None else InputSampler()
        self.rng = rng if rng is not None else np.random.default_rng()
        self.metrics = metrics if metrics is not None else Metrics()
        self.run_logger = run_logger if run_logger is not None else NullLogger()
        self.cfg = cfg
        self.concurrency = concurrency
        self.allow_private_axons = allow_private_axons
        self.min_stake = min_stake
        self.forbidden_grace_s = forbidden_grace_s
        # When our metagraph last began to show us permitted (None: not permitted now).
        self._permitted_since: float | None = None
        self.reports_path = reports_path
        self.reports_max_bytes = reports_max_bytes
        self.receipts = receipts
        self.clock = clock
        self.state: ValidatorState = store.load().state
        self.rounds_done = 0
        self.last_report: RoundReport | None = None
        # The block of our first metagraph read: the reference for "weights stale"
        # while none of our weights has landed yet.
        self.started_block: int | None = None
        # The last round's metagraph: whom the API (neurons.validating.dispatch) may ask.
        self.metagraph: MetagraphView | None = None

    # ------------------------------------------------------------------ rounds

    async def run(self, *, rounds: int = 0, round_interval: float = 12.0, stop: asyncio.Event | None = None) -> None:
        """Run rounds until ``rounds`` are done (0: forever) or ``stop`` is set.

        One broad ``except`` per round keeps the loop alive through anything a
        round can hit; it logs and waits for the next. A chain failure (the
        round's metagraph read) is one WARNING line without a traceback,
        counted in ``chain_errors{operation="round"}``.
        A stop abandons the round in flight (the last saved state stands), so a
        stalled chain read cannot hold the validator up.
        """
        stop = stop or asyncio.Event()
        while not stop.is_set() and (rounds == 0 or self.rounds_done < rounds):
            started = self.clock()
            try:
                await until_stopped(self.run_round(), stop)
            except ChainFailure as error:  # a chain hiccup: one line, no traceback
                self.metrics.chain_errors.labels(operation="round").inc()
                log.warning("round %d: chain read failed (%s); trying again next round", self.rounds_done + 1, error)
                self.rounds_done += 1
            except Exception:
                log.exception("round %d failed; trying again next round", self.rounds_done + 1)
                self.rounds_done += 1
            if rounds and self.rounds_done >= rounds:
                break
            wait = max(0.0, round_interval - (self.clock() - started))
            try:
                await asyncio.wait_for(stop.wait(), timeout=wait)
            except asyncio.TimeoutError:
                pass

    async def run_round(self) -> RoundReport:
        index = self.rounds_done + 1
        metagraph = await self.chain.metagraph(self.netuid)
        if self.pins is not None:
            await self.pins.refresh()  # one storage read; never raises (a failed read keeps the last pin)
        self._note_start(metagraph)
        self.metagraph = metagraph
        # Before the standing gate: a write made while permitted is judged even in a round
        # we skip (its likely reason is then often the lost permit).
        await self.check_weights(metagraph)
        standing = standing_in(metagraph, self.hotkey, min_stake=self.min_stake)
        self.metrics.validator_permitted.set(1 if standing.permitted else 0)
        if not standing.permitted:
            self._permitted_since = None
            return self._skip(index, metagraph, standing.reason or "not permitted", standing.advice or "")
        if self._permitted_since is None:
            self._permitted_since = self.clock()
        circuits = [c for c in self.circuits if self.pins is None or self.pins.allows(c.id)]
        if not circuits:
            return self._skip(index, metagraph, "none of our circuits is in the subnet owner's pin",
                              "update the model folders to the subnet's release (python -m neurons.pins show)")
        self._align(metagraph)
        targets = self._targets(metagraph)
        order = self.rng.permutation(len(targets))
        targets = [targets[i] for i in order]
        log.info("round %d at block %d: challenging %d miners", index, metagraph.block, len(targets))

        limit = asyncio.Semaphore(self.concurrency)

        async def one(neuron: NeuronInfo) -> ResponseRecord:
            circuit = circuits[int(self.rng.integers(len(circuits)))]
            async with limit:
                try:
                    served = self.capabilities.served(neuron)
                    if served is not None and circuit.id not in served.circuits:
                        return self._not_served(neuron, circuit)
                    lane = served.lane_of(circuit.id) if served is not None else None
                    # Client (API) requests to this lane go first; see neurons.validating.slots.
                    async with self.slots.hold(
                        lane_key(neuron.uid, neuron.hotkey, lane.circuits if lane is not None else None),
                        lane.max_concurrent if lane is not None else 1,
                        client=False, timeout=self.slots.max_yield_s + 3 * circuit.timeout_s,
                    ):
                        return await challenge_miner(
                            neuron=neuron, circuit=circuit, client=self.client, verify=self.verify,
                            guard=self.guard, sample=self.sample, rng=self.rng, clock=self.clock,
                            receipts=self.receipts,
                        )
                except Exception as error:
                    # The task boundary of one challenge: whatever broke here must
                    # not cost the other miners their round, nor this miner its score.
                    log.exception("uid %d %s: challenge on %s failed in the validator",
                                  neuron.uid, neuron.hotkey[:10], circuit.name)
                    return ResponseRecord.failure(
                        neuron, circuit, Outcome.VALIDATOR_ERROR, f"validator error: {type(error).__name__}"
                    )

        records = tuple(await asyncio.gather(*(one(n) for n in targets)))
        self._warn_refusals(index, records, standing)
        scores = self._score(records, metagraph)
        self.rounds_done = index
        self._save()
        # Reads nothing beyond this metagraph and never raises for the chain: a
        # failed write is a WriteResult, and the round's saved scores stand.
        weights = await self.maybe_set_weights(metagraph)
        report = RoundReport(index, metagraph.block, records, scores, dict(self.state.averages), weights)
        self._publish(report)
        self.last_report = report
        return report

    def score_of(self, neuron: NeuronInfo) -> float:
        """Our moving average for ``neuron``: 0 for a uid we have no average for, or whose hotkey
        is not the one that earned it (a new miner in the uid starts from zero)."""
        if self.state.hotkeys.get(neuron.uid) != neuron.hotkey:
            return 0.0
        return self.state.averages.get(neuron.uid, 0.0)

    @staticmethod
    def _not_served(neuron: NeuronInfo, circuit: ChallengeCircuit) -> ResponseRecord:
        """The record of a circuit drawn for a miner whose capabilities do not list it: not
        sent, and charged as the 404 ``unknown_circuit`` it would have been answered."""
        reason = f"not served: the miner's capabilities do not list {circuit.name}; not sent"
        log.info("uid %d %s: %s", neuron.uid, neuron.hotkey[:10], reason)
        return ResponseRecord.failure(neuron, circuit, Outcome.HTTP_ERROR, reason)

    def _skip(self, index: int, metagraph: MetagraphView, reason: str, advice: str) -> RoundReport:
        """A round in which we may not ask for work (our standing), or have nothing to ask
        (no circuit of ours is pinned): nothing challenged, scored, saved or written."""
        # Every miner would answer 403 and the chain would ignore our weights:
        # challenging would only charge miners for our own standing.
        log.warning(
            "round %d at block %d: not challenging miners nor setting weights: %s; %s",
            index, metagraph.block, reason, advice,
        )
        self.rounds_done = index
        report = RoundReport(index, metagraph.block, (), {}, dict(self.state.averages), None,
                             skipped=reason)
        self._publish(report)
        self.last_report = report
        return report

    def _in_forbidden_grace(self) -> bool:
        """Within ``forbidden_grace_s`` of our metagraph first showing us permitted.

        A miner's metagraph may lag ours by up to its resync interval (60 s by
        default), so right after we gain a permit its 403 ``forbidden`` is not its
        fault. Past the grace a permitted validator refused as not permitted is a
        miner's choice (or a miner that stopped resyncing): it is charged, so no
        miner can freeze its average by answering ``forbidden`` forever.
        """
        since = self._permitted_since
        return since is None or self.clock() - since <= self.forbidden_grace_s

    def _warn_refusals(self, index: int, records: Sequence[ResponseRecord], standing: Standing) -> None:
        """One WARNING when miners refused us as not permitted although our metagraph permits us."""
        refused = sorted(r.uid for r in records if r.outcome is Outcome.FORBIDDEN)
        if refused:
            verdict = (
                f"not charged to them within {self.forbidden_grace_s:g}s of our permit" if self._in_forbidden_grace()
                else f"charged to them: our permit is older than the {self.forbidden_grace_s:g}s a miner's "
                "metagraph may lag"
            )
            log.warning(
                "round %d: %d miner(s) refused us as not permitted (403 forbidden; uids %s) though the "
                "metagraph gives uid %s a permit and stake %g: their metagraph may be behind, or their "
                "--miner.min_stake above our --validator.min_stake %g; %s",
                index, len(refused), ", ".join(map(str, refused)), standing.uid, standing.stake or 0.0,
                self.min_stake, verdict,
            )

    def _targets(self, metagraph: MetagraphView) -> list[NeuronInfo]:
        """The miners to challenge: serving, not us, and (unless allowed) at a routable address."""
        serving = [n for n in metagraph.neurons if n.axon is not None and n.hotkey != self.hotkey]
        if self.allow_private_axons:
            return serving
        targets = [n for n in serving if routable(n.axon[0])]  # type: ignore[index]
        if len(targets) < len(serving):
            skipped = sorted(n.uid for n in serving if not routable(n.axon[0]))  # type: ignore[index]
            log.debug("not querying %d miner(s) at non-routable addresses (uids %s): they score zero",
                      len(skipped), ", ".join(map(str, skipped)))
        return targets

    def _note_start(self, metagraph: MetagraphView) -> None:
        if self.started_block is None:
            self.started_block = metagraph.block

    def _align(self, metagraph: MetagraphView) -> None:
        current = {n.uid: n.hotkey for n in metagraph.neurons}
        rec = scoring.reconcile(
            self.state.averages, self.state.hotkeys, current,
            known_registered=self.state.registered,
            current_registered={n.uid: n.registered_at for n in metagraph.neurons},
        )
        for uid in rec.reset:
            log.info("uid %d was registered anew (hotkey %s): its score starts from zero", uid, current[uid][:10])
        for uid in rec.swapped:
            log.info("uid %d swapped its hotkey to %s: it keeps its score", uid, current[uid][:10])
        # A miner's recent times go where its average goes: a newcomer in the slot starts
        # from nothing, a departed uid's are dropped, a hotkey swap keeps them.
        kept = set(rec.averages) - set(rec.reset)
        self.state = self.state.model_copy(update={
            "averages": rec.averages, "hotkeys": rec.hotkeys, "registered": rec.registered,
            "circuits": scoring.forget(self.state.circuits, kept),
        })

    def _score(self, records: Sequence[ResponseRecord], metagraph: MetagraphView) -> dict[int, float]:
        """Score the round; returns each scored uid's round score (the mean of its records).

        Records whose outcome is not ``charged`` (``validator_error``,
        ``forbidden``) are not the miner's fault: they are left out of the scores (and of the circuits' time statistics), so a uid whose
        every record this round is one keeps its average untouched. They still
        count in the ``verifications`` metric and appear in reports.jsonl.
        Registered uids that were not challenged (not serving, not routable)
        score zero.
        """
        timeouts = {c.id: c.timeout_s for c in self.circuits}
        charge_forbidden = not self._in_forbidden_grace()
        judged = [r for r in records if r.outcome.charged or (charge_forbidden and r.outcome is Outcome.FORBIDDEN)]
        responses = [
            scoring.Response(
                uid=r.uid, circuit_id=r.circuit_id, verified=r.verified,
                response_s=r.response_s if r.proof_bytes else None,
                proof_bytes=r.proof_bytes, timeout_s=timeouts[r.circuit_id],
            )
            for r in judged
        ]
        scored, stats = scoring.score_round(responses, self.state.circuits, self.cfg)
        per_uid: dict[int, list[float]] = defaultdict(list)
        for s in scored:
            per_uid[s.response.uid].append(s.score)
        # Registered but not challenged (not serving, not routable) scores zero:
        # weight must follow work actually done. Challenged uids whose records
        # were all uncharged (validator errors, 403 forbidden) are not scored at all.
        challenged = {r.uid for r in records}
        for n in metagraph.neurons:
            if n.hotkey != self.hotkey and n.uid not in challenged:
                per_uid[n.uid].append(0.0)
        round_scores = {uid: sum(v) / len(v) for uid, v in per_uid.items()}
        averages = scoring.update_averages(self.state.averages, round_scores, self.cfg)
        counters = dict(self.state.counters)
        counters["rounds"] = counters.get("rounds", 0) + 1
        counters["responses"] = counters.get("responses", 0) + len(records)
        counters["verified"] = counters.get("verified", 0) + sum(r.verified for r in records)
        self.state = self.state.model_copy(
            update={"averages": averages, "circuits": stats, "counters": counters}
        )
        for r in records:
            self.metrics.verifications.labels(outcome=r.outcome.value).inc()
            if r.verified:
                self.metrics.verify_seconds.labels(circuit=r.circuit_name).observe(r.verify_s)
        for s, r in zip(scored, judged):
            self.run_logger.log_response(
                uid=r.uid, hotkey=r.hotkey, circuit_id=r.circuit_id, verified=r.verified,
                response_s=r.response_s, proof_bytes=r.proof_bytes, score=s.score,
            )
        summary = scoring.summarize_round(scored)
        self.run_logger.log_round(
            round_index=self.rounds_done + 1, responses=summary.responses, verified=summary.verified,
            mean_score=summary.mean_score, mean_response_s=summary.mean_response_s,
        )
        errors = len(records) - len(judged)
        log.info(
            "round %d: %d/%d verified, mean score %.3f%s",
            self.rounds_done + 1, summary.verified, summary.responses, summary.mean_score,
            f"; {errors} not charged (validator errors, 403 forbidden)" if errors else "",
        )
        return round_scores

    def _save(self) -> None:
        try:
            self.store.save(self.state)
        except Exception:
            # Losing one save is survivable; the next round writes again.
            log.exception("could not save validator state")

    # ----------------------------------------------------------------- weights

    async def maybe_set_weights(self, metagraph: MetagraphView | None = None) -> WriteResult | None:
        """Submit the weights of the moving averages; the chain's rate limit decides.

        Reads nothing but ``metagraph`` (read fresh when not given). The
        averages are fitted to the subnet's ``min_allowed_weights`` and
        ``max_weight_limit`` as ``metagraph`` carries them
        (``scoring.conform_weights``: the rule is there and in
        docs/scoring.md); when no vector can meet them (too few registered
        uids) nothing is submitted and one WARNING says why and what the
        subnet owner can change (``weight_updates{outcome="skipped"}``). The
        intent is ``scoring.weights_intent`` of the fitted weights, submitted as built
        (``ChainAccess.submit``). The rate limit is decided once, by the SDK's
        preflight inside that submission (``Chain.submit`` says what it reads):
        nothing here reads the rate limit or the block.

        A write that lands becomes the pending read-back (``weights_check`` in the
        state: see :meth:`check_weights`), unless one is pending already: the older
        check then stays, with its due block, and this write joins its list of writes
        that count as ours on chain (the chain shows the newest revealed one, so the
        older write's row may legitimately be replaced by it). A check is replaced
        only once it has been read back (each round reads a due check before it
        writes), so no write is left unchecked for longer than one check's wait.

        Returns None when nothing was submitted: no miner has a positive score
        (counted as ``weight_updates{outcome="skipped"}``), or the rate limit
        has not passed (a DEBUG line; the next round tries again). Else the
        chain's answer: ok (the landed block is saved in the state) or a
        failure (a WARNING, ``weight_updates{outcome="failed"}`` and
        ``chain_errors{operation="set_weights"}``).

        First it sets ``blocks_since_weights`` as of ``metagraph.block`` and
        warns once the gap passes two of ``metagraph.tempo``, counting from the
        block our weights last landed or, while none has landed (no permit,
        every write rejected), from ``started_block``: a validator whose
        weights never land is the loss this warning exists for.
        """
        metagraph = metagraph or await self.chain.metagraph(self.netuid)
        self._note_start(metagraph)
        block, tempo = metagraph.block, metagraph.tempo
        me = metagraph.by_hotkey(self.hotkey)
        last = me.last_update if me is not None and me.last_update else self.state.last_weights_block
        reference = last if last is not None else self.started_block
        if reference is not None:
            since = max(0, block - reference)
            self.metrics.blocks_since_weights.set(since)
            if tempo > 0 and weights_stale(since, tempo):
                what = (
                    f"weights last landed {since} blocks ago" if last is not None
                    else f"weights have not landed since the validator started {since} blocks ago"
                )
                log.warning(
                    "%s (more than two tempos of %d): dividends are being lost; "
                    "check the chain errors above", what, tempo,
                )
        conformed = scoring.conform_weights(
            self.state.averages,
            scoring.WeightLimits(metagraph.min_allowed_weights, metagraph.max_weights_limit),
            registered=[n.uid for n in metagraph.neurons],
            own_uid=me.uid if me is not None else None,
        )
        if conformed.problem is not None:
            # A write the chain must refuse is not sent: say why, and who can fix it.
            log.warning("%s", conformed.problem)
            self.metrics.weight_updates.labels(outcome="skipped").inc()
            return None
        if conformed.padded:
            log.debug("weights padded to the subnet's limits with uids %s", list(conformed.padded))
        intent = scoring.weights_intent(conformed.weights, self.netuid, self.version_key)
        if intent is None:
            log.info("no miner has a positive score yet: no weights set")
            self.metrics.weight_updates.labels(outcome="skipped").inc()
            return None
        result = await self.chain.submit(intent, self.wallet)
        if result.rate_limited:
            log.debug("weights not set yet: %s", result.error)
            return None
        if result.ok:
            landed = result.block if result.block is not None else block
            check = self._pending_check(intent, result, landed, metagraph)
            self.state = self.state.model_copy(update={"last_weights_block": landed, "weights_check": check})
            self._save()
            self.metrics.weight_updates.labels(outcome="ok").inc()
            self.metrics.blocks_since_weights.set(0)
            if result.reveal_round is not None:
                log.info("weights committed at block %d for %d uids (commit-reveal: revealed by the chain "
                         "later; read back once due)", landed, len(intent.uids or ()))
            else:
                log.info("weights set at block %d for %d uids", landed, len(intent.uids or ()))
        else:
            self.metrics.weight_updates.labels(outcome="failed").inc()
            self.metrics.chain_errors.labels(operation="set_weights").inc()
            log.warning("setting weights failed: %s", result.error)
        return result

    def _pending_check(
        self, intent: bt.SetWeights, result: WriteResult, landed: int, metagraph: MetagraphView
    ) -> WeightsCheck | None:
        """The read-back to keep after a write that landed at ``landed`` (see maybe_set_weights)."""
        me = metagraph.by_hotkey(self.hotkey)
        current = self.state.weights_check
        if me is None:
            return current
        row = readback.submitted_row(intent, own_uid=me.uid, max_weights_limit=metagraph.max_weights_limit)
        if not row:
            return current
        written = WrittenWeights(block=landed, row=row)
        if current is not None:
            later = (*current.writes[1:], written)[-(MAX_CHECKED_WRITES - 1):]
            return current.model_copy(update={"writes": (current.writes[0], *later)})
        commit = result.reveal_round is not None
        return WeightsCheck(uid=me.uid, commit_reveal=commit, due_block=None if commit else landed,
                            writes=(written,))

    async def check_weights(self, metagraph: MetagraphView) -> readback.Readback | None:
        """Read the pending weight write back from the chain once it is due, once.

        Nothing pending, or not due at ``metagraph.block`` yet: None, and nothing is
        read (a commit-reveal write's due block is fixed first, from one read of the
        subnet's reveal period: ``readback.due_block``). Due: one read of our
        ``Weights`` row, compared with what was written (``readback.read_back``), and
        the check is done, whatever the outcome:

        - landed: INFO "weights of block B revealed at/by block R as committed" (or
          "landed as written" for a plaintext write), ``weight_checks{outcome="landed",
          reason="none"}``, ``weights_unconfirmed`` 0;
        - missing or different: one read of the subnet's weights version key, then a
          WARNING naming the outcome and the likely reasons, ``weight_checks{outcome,
          reason}`` with the first reason, ``weights_unconfirmed`` 1, and an alert
          through the run logger (wandb's ``run.alert`` when wandb is on).

        A chain failure is one WARNING and ``chain_errors{operation="weights_check"}``;
        the check stays pending for the next round. Never raises for the chain.
        """
        check = self.state.weights_check
        if check is None:
            return None
        try:
            return await self._check_weights(check, metagraph)
        except ChainFailure as error:
            self.metrics.chain_errors.labels(operation="weights_check").inc()
            log.warning("reading our weights back failed (%s); trying again next round", error)
            return None

    async def _check_weights(self, check: WeightsCheck, metagraph: MetagraphView) -> readback.Readback | None:
        if check.due_block is None:
            schedule = await self.chain.commit_reveal(self.netuid)
            due = readback.due_block(check.writes[0].block, commit_reveal=True,
                                     reveal_period_epochs=schedule.reveal_period_epochs, tempo=metagraph.tempo)
            check = check.model_copy(update={"due_block": due})
            self.state = self.state.model_copy(update={"weights_check": check})
            self._save()
            log.debug("weights committed at block %d must be revealed by block %d (reveal period %d "
                      "epochs of %d blocks)", check.writes[0].block, due, schedule.reveal_period_epochs,
                      metagraph.tempo)
        if check.due_block is None or metagraph.block < check.due_block:
            return None
        row = await self.chain.weights_row(self.netuid, check.uid)
        required = None
        if readback.found_write(check.writes, row) is None:
            required = await self.chain.weights_version_key(self.netuid)
        verdict = readback.read_back(check, row, metagraph, hotkey=self.hotkey, version_key=self.version_key,
                                     required_version_key=required)
        self.state = self.state.model_copy(update={"weights_check": None})
        self._save()
        self.metrics.weight_checks.labels(outcome=verdict.outcome, reason=verdict.reason).inc()
        self.metrics.weights_unconfirmed.set(0 if verdict.landed else 1)
        if verdict.landed:
            if check.commit_reveal:
                log.info("weights of block %d revealed at/by block %d as committed",
                         verdict.found, verdict.read_at)
            else:
                log.info("weights of block %d landed as written (read back at block %d)",
                         verdict.found, verdict.read_at)
            return verdict
        how = "commit-reveal" if check.commit_reveal else "plaintext"
        what = (
            "our Weights row is empty" if verdict.outcome == "missing"
            else f"our Weights row holds other weights ({len(verdict.row)} entries; an earlier write?)"
        )
        message = (
            f"WEIGHTS NOT ON CHAIN: the weights written at block {verdict.checked_block} ({how}, due by block "
            f"{verdict.due_block}) are not in uid {check.uid}'s Weights row at block {verdict.read_at}: {what}; "
            f"the chain dropped them and the validator earns no dividends from them. Likely reason: "
            + "; ".join(f"{r.code}: {r.text}" for r in verdict.reasons)
        )
        log.warning("%s", message)
        self.run_logger.alert(title=f"weights not on chain ({verdict.reason})", text=message)
        return verdict

    def _publish(self, report: RoundReport) -> None:
        """Append the round to ``reports_path``; a write failure is logged, the round stands."""
        if self.reports_path is None:
            return
        try:
            self._append_report(report)
        except OSError:
            log.exception("could not append round %d to %s", report.index, self.reports_path)

    def _append_report(self, report: RoundReport) -> None:
        assert self.reports_path is not None
        line = {
            "round": report.index,
            "block": report.block,
            "time": self.clock(),
            "records": [asdict(r) for r in report.records],
            "scores": report.scores,
            "averages": report.averages,
            "weights": None if report.weights is None else asdict(report.weights),
            "skipped": report.skipped,
        }
        # Rotated at its cap (about 0.5 KB per miner per round: hundreds of MB a day on
        # a full subnet; one previous file is kept), and a line torn by a crash is cut.
        reports.append_line(self.reports_path, line, max_bytes=self.reports_max_bytes)

    async def set_final_weights(
        self, stop: asyncio.Event | None = None, *, max_wait_s: float = 60.0, poll_s: float = 1.0
    ) -> None:
        """After a fixed number of rounds, make sure the last averages reach the chain.

        Returns at once when the last round's write landed, the last round was
        skipped (we may not ask for work: the chain would refuse the weights
        too; that round already warned), or no average is positive; else retries (through the rate limit and chain hiccups) for
        at most ``max_wait_s``, or until ``stop``, and logs a warning if the
        weights did not land.
        """
        report = self.last_report
        if report is not None and report.weights is not None and report.weights.ok:
            return  # the last round's averages already landed
        if report is not None and report.skipped is not None:
            return  # not permitted: a write would be refused, as the skipped round said
        deadline = time.monotonic() + max_wait_s
        while time.monotonic() < deadline and not (stop and stop.is_set()):
            if not scoring.normalized_weights(self.state.averages):
                return  # nothing positive to set (the round already logged that)
            try:
                result = await self.maybe_set_weights()
            except ChainFailure as error:  # a chain hiccup: the wait goes on
                log.warning("final weights: %s", error)
                result = None
            if result is not None and result.ok:
                return
            await asyncio.sleep(poll_s)
        log.warning("could not set final weights within %.0fs", max_wait_s)
