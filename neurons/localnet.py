"""A whole subnet on this machine: ``python neurons/localnet.py``.

Creates an embedded devnet and wallets under ``--workdir``, registers a
validator (staked, with a permit) and ``--miners`` miners on netuid 2, starts
each miner and the validator as its own process (``neurons/miner.py``,
``neurons/validator.py``, exactly as pm2 would), lets the validator run
``--rounds`` rounds, then prints a table per miner, the weights the chain
revealed and the incentive of the epoch that followed, stops everything and exits 0.
The subnet runs commit-reveal, as on finney: the validator's weights go in as a
timelocked commit and the chain reveals them as the next epoch starts, so the
runner waits for the reveal of the validator's last commit before it prints. The last miner answers
``--slow-miner-latency`` seconds late on purpose, so the scores show response
time at work. Logs of every process are in ``<workdir>/logs``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if __name__ == "__main__":
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from neurons.chain import MetagraphView  # noqa: E402
from neurons.shared.config import localnet_parser  # noqa: E402
from neurons.shared.daemon import repo_root  # noqa: E402
from utils.log import configure_logging  # noqa: E402

if TYPE_CHECKING:
    from neurons.devnet.admin import Reveal

__all__ = ["main", "LocalnetError"]

log = logging.getLogger("localnet")

_NETUID = 2
_MARKER = ".localnet"
_VALIDATOR = "validator"
# Loopback, but not 127.0.0.1: the chain (and so the devnet) refuses to list that address.
_AXON_IP = "127.0.0.2"


class LocalnetError(Exception):
    """Something stopped the local subnet; ``str(e)`` says what and where to look."""


@dataclass
class _Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join("    " + line for line in text[-lines:])


def _prepare_workdir(workdir: Path) -> None:
    if workdir.exists() and any(workdir.iterdir()) and not (workdir / _MARKER).exists():
        raise LocalnetError(
            f"{workdir} exists and was not made by localnet; choose another --workdir"
        )
    shutil.rmtree(workdir, ignore_errors=True)
    (workdir / "logs").mkdir(parents=True)
    (workdir / _MARKER).write_text("made by neurons/localnet.py; wiped at every start\n")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((_AXON_IP, port))
        except OSError:
            return False
    return True


async def _create_chain(workdir: Path, miners: int, block_time: float) -> dict[str, int]:
    from neurons.chain import load_wallet
    from neurons.devnet import admin
    from neurons.devnet.runtime import SubnetParams

    state, wallets = workdir / "chain.sqlite", workdir / "wallets"
    # A short rate limit and tempo so a three-round demo sees its weights committed, revealed
    # at the next epoch block and turned into incentive. Commit-reveal is on (the default, as
    # on finney), reveal period 1 epoch.
    admin.create_subnet(
        _NETUID, state=state, block_time=block_time,
        params=SubnetParams(tempo=5, weights_rate_limit=2),
    )
    uids: dict[str, int] = {}
    for name in [_VALIDATOR] + [f"miner{i}" for i in range(1, miners + 1)]:
        admin.wallet_create(name, "default", wallets)
        uids[name] = await admin.register(_NETUID, name, "default", state=state, wallet_path=wallets)
    await admin.stake(_NETUID, _VALIDATOR, "default", 1000.0, state=state, wallet_path=wallets)
    validator_hotkey = load_wallet(_VALIDATOR, "default", wallets).hotkeypub.ss58_address
    admin.permit(_NETUID, validator_hotkey, state=state)
    return uids


def _spawn(name: str, script: str, args: list[str], workdir: Path) -> _Proc:
    log_path = workdir / "logs" / f"{name}.log"
    out = log_path.open("wb")
    popen = subprocess.Popen(
        [sys.executable, script, *args],
        cwd=repo_root(),
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        # Own session: Ctrl-C reaches localnet only, which then stops the
        # children in order (miners after the validator).
        start_new_session=True,
    )
    out.close()
    return _Proc(name, popen, log_path)


def _common_args(workdir: Path, name: str, key_cache: Path | None, debug: bool) -> list[str]:
    args = [
        "--netuid", str(_NETUID),
        "--subtensor.network", "devnet",
        "--subtensor.devnet_state", str(workdir / "chain.sqlite"),
        "--wallet.path", str(workdir / "wallets"),
        "--wallet.name", name,
        "--wallet.hotkey", "default",
    ]
    if key_cache is not None:
        args += ["--keys.cache", str(key_cache)]
    if debug:
        args.append("--logging.debug")
    return args


async def _wait_for_axons(workdir: Path, procs: list[_Proc], uids: dict[str, int], timeout: float) -> None:
    from neurons.devnet import admin

    deadline = time.monotonic() + timeout
    waiting = {p.name for p in procs}
    while waiting:
        for p in procs:
            if p.popen.poll() is not None:
                raise LocalnetError(f"{p.name} exited with code {p.popen.returncode}:\n{p.tail()}")
        report = await admin.metagraph(_NETUID, state=workdir / "chain.sqlite")
        for name in list(waiting):
            neuron = report.view.by_uid(uids[name])
            if neuron is not None and neuron.axon is not None:
                waiting.discard(name)
                log.info("%s (uid %d) is serving on %s:%d", name, neuron.uid, *neuron.axon)
        if waiting and time.monotonic() > deadline:
            raise LocalnetError(
                f"{', '.join(sorted(waiting))} did not announce an axon within {timeout:.0f}s; "
                f"see {workdir / 'logs'}"
            )
        await asyncio.sleep(0.5)


async def _latest_reveal(workdir: Path, validator_uid: int) -> Reveal | None:
    """The devnet's record of the reveal of the validator's last commit, or None while it is pending or when it never committed.

    With commit-reveal on, ``LastUpdate`` moves only at a commit (and at registration),
    so the last commit is the one made at the validator's ``last_update`` block."""
    from neurons.devnet import admin

    state = workdir / "chain.sqlite"
    me = (await admin.metagraph(_NETUID, state=state)).view.by_uid(validator_uid)
    if me is None:
        return None
    mine = [r for r in admin.reveals(_NETUID, state=state).reveals
            if r.hotkey == me.hotkey and r.commit_block == me.last_update]
    return mine[-1] if mine else None


async def _wait_for_reveal(workdir: Path, validator_uid: int, timeout: float) -> Reveal | None:
    """Wait until the chain has revealed (or dropped) the validator's last commit: at the
    next epoch block (commit_reveal_period 1), so at most a tempo of blocks. The epoch of that
    block runs right after the reveal, so the incentive read then is the one those weights
    earn. Returns the reveal record, or None (with a warning) on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reveal = await _latest_reveal(workdir, validator_uid)
        if reveal is not None:
            return reveal
        await asyncio.sleep(0.5)
    log.warning("the validator's last commit was not revealed within %.0fs: the weights and "
                "incentive shown may predate it", timeout)
    return None


def _read_reports(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rounds = []
    for line in path.read_text().splitlines():
        try:
            rounds.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line being written right now
    return rounds


async def _table(
    workdir: Path, uids: dict[str, int], reports: list[dict[str, Any]], reveal: Reveal | None = None
) -> tuple[str, int]:
    """The per-miner table, the weights the chain revealed (``reveal``: the devnet's record of
    the validator's last commit, if revealed) and the miners' incentive; returns (text,
    verified responses)."""
    from neurons.devnet import admin

    chain = await admin.metagraph(_NETUID, state=workdir / "chain.sqlite")
    chain_weights = chain.weights.get(uids[_VALIDATOR], {})
    averages = {int(k): v for k, v in (reports[-1]["averages"] if reports else {}).items()}
    stats: dict[int, dict[str, Any]] = {}
    for rnd in reports:
        for r in rnd["records"]:
            s = stats.setdefault(r["uid"], {"ok": 0, "failed": 0, "times": [], "bytes": [], "reasons": []})
            if r["verified"]:
                s["ok"] += 1
                s["times"].append(r["response_s"])
                s["bytes"].append(r["proof_bytes"])
            else:
                s["failed"] += 1
                s["reasons"].append(r["reason"])
    lines = [
        f"{'miner':<8} {'uid':>3} {'verified':>8} {'failed':>6} {'mean resp s':>11} "
        f"{'proof bytes':>11} {'score':>6} {'weight':>7}",
    ]
    verified = 0
    for name, uid in uids.items():
        if name == _VALIDATOR:
            continue
        s = stats.get(uid, {"ok": 0, "failed": 0, "times": [], "bytes": [], "reasons": []})
        verified += s["ok"]
        mean_t = f"{sum(s['times']) / len(s['times']):.2f}" if s["times"] else "-"
        size = f"{sum(s['bytes']) // len(s['bytes'])}" if s["bytes"] else "-"
        lines.append(
            f"{name:<8} {uid:>3} {s['ok']:>8} {s['failed']:>6} {mean_t:>11} {size:>11} "
            f"{averages.get(uid, 0.0):>6.3f} {chain_weights.get(uid, 0.0):>7.3f}"
        )
        for reason in sorted(set(s["reasons"]))[:3]:
            lines.append(f"{'':<13}failed: {reason}")
    row = " ".join(f"uid {u}: {w:.3f}" for u, w in sorted(chain_weights.items())) or "none yet"
    incentive = " ".join(
        f"uid {n.uid}: {n.incentive:.3f}" for n in chain.view.neurons if n.uid != uids[_VALIDATOR]
    )
    lines += [
        "",
        f"weights on chain (validator uid {uids[_VALIDATOR]}, read at block {chain.view.block}): {row}",
        _reveal_line(reveal, chain.view, uids[_VALIDATOR], reports),
        f"miner incentive {_incentive_origin(reveal, chain.view, uids[_VALIDATOR], reports)}: "
        f"{incentive}",
    ]
    return "\n".join(lines), verified


def _round_of(commit_block: int, reports: list[dict[str, Any]]) -> str:
    for report in reversed(reports):
        weights = report.get("weights") or {}
        if weights.get("ok") and weights.get("block") == commit_block:
            return f"round {report['round']}"
    return "after the last round"


def _reveal_line(reveal: Reveal | None, view: MetagraphView, validator_uid: int, reports: list[dict[str, Any]]) -> str:
    """Where the weights above come from: the commit (block, round) and its reveal block."""
    if reveal is None:
        me = view.by_uid(validator_uid)
        if me is None or not me.last_update or me.last_update == me.registered_at:
            return "  (commit-reveal: no commit yet)"
        return (f"  (commit-reveal: the commit of block {me.last_update} "
                f"({_round_of(me.last_update, reports)}) is not revealed yet)")
    where = f"committed at block {reveal.commit_block} ({_round_of(reveal.commit_block, reports)})"
    if reveal.outcome == "revealed":
        return f"  (commit-reveal: {where}, revealed by the chain at block {reveal.reveal_block})"
    return (f"  (commit-reveal: {where}, dropped at its reveal at block {reveal.reveal_block}: "
            f"{reveal.error}: {reveal.docs})")


def _incentive_origin(reveal: Reveal | None, view: MetagraphView, validator_uid: int, reports: list[dict[str, Any]]) -> str:
    if reveal is not None and reveal.outcome == "revealed":
        return (f"of the epoch at block {reveal.reveal_block}, right after the reveal of "
                f"{_round_of(reveal.commit_block, reports)}'s weights")
    return f"after the devnet epoch ({_weights_origin(view, validator_uid, reports)})"


def _weights_origin(view: MetagraphView, validator_uid: int, reports: list[dict[str, Any]]) -> str:
    """Which round's weights the incentive comes from: the round whose write landed at the
    validator's ``last_update`` block (the final write after the last round when none did)."""
    me = view.by_uid(validator_uid)
    if me is None or not me.last_update:
        return "no weights landed yet"
    for report in reversed(reports):
        weights = report.get("weights") or {}
        if weights.get("ok") and weights.get("block") == me.last_update:
            return f"weights of round {report['round']}, landed at block {me.last_update}"
    return f"weights set after the last round, landed at block {me.last_update}"


def _stop(procs: list[_Proc], timeout: float = 30.0) -> None:
    for p in procs:
        if p.popen.poll() is None:
            p.popen.send_signal(signal.SIGINT)
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %.0fs; killing it", p.name, timeout)
            p.popen.kill()
            p.popen.wait()


def _circuit_args(heavy: bool) -> list[str]:
    """The circuits the daemons are told to run: every one with ``--heavy``, else the light ones
    (``Circuit.heavy``: a proof over ``timeouts.HEAVY_S`` on the minimum miner); [] means the daemons' default."""
    from execution_layer import CircuitRegistry  # loads and hashes the models: only when the subnet starts

    registry = CircuitRegistry.load()
    left_out = [c.name for c in registry if c.heavy]
    if heavy or not left_out:
        log.info("circuits: %s", ", ".join(c.name for c in registry))
        return []
    light = [c.name for c in registry if not c.heavy]
    if not light:
        raise LocalnetError(f"every circuit is heavy ({', '.join(left_out)}): pass --heavy to run them")
    log.info("circuits: %s; heavy ones left out: %s (pass --heavy to include them: their proofs take seconds "
             "and the first start derives their keys)", ", ".join(light), ", ".join(left_out))
    return light


def _flag(name: str, values: list[str]) -> list[str]:
    return [name, *values] if values else []


async def _run_localnet(args: argparse.Namespace, stop: asyncio.Event) -> int:
    workdir: Path = args.workdir.resolve()
    ports = [args.base_port + i for i in range(args.miners)]
    busy = [p for p in ports if not _port_free(p)]
    if busy:
        raise LocalnetError(f"port(s) {', '.join(map(str, busy))} are in use; pass another --base-port")
    if args.miners < 1:
        raise LocalnetError("--miners must be at least 1")
    _prepare_workdir(workdir)
    log.info("devnet and wallets in %s", workdir)
    uids = await _create_chain(workdir, args.miners, args.block_time)
    key_cache = args.key_cache.expanduser() if args.key_cache else None
    circuits = _circuit_args(args.heavy)

    procs: list[_Proc] = []
    try:
        for i, port in enumerate(ports, start=1):
            name = f"miner{i}"
            extra = ["--axon.ip", _AXON_IP, "--axon.port", str(port), "--axon.external_ip", _AXON_IP]
            if i == args.miners and args.slow_latency > 0 and args.miners > 1:
                extra += ["--miner.extra_latency", str(args.slow_latency)]
                log.info("%s answers %.1fs late on purpose (--slow-miner-latency)", name, args.slow_latency)
            procs.append(_spawn(name, "neurons/miner.py",
                                _common_args(workdir, name, key_cache, args.logging_debug) + extra
                                + _flag("--miner.circuits", circuits), workdir))
        log.info("started %d miners; waiting for them to load circuits and announce", args.miners)
        await _wait_for_axons(workdir, procs, uids, timeout=args.start_timeout)

        rounds = 0 if args.forever else args.rounds
        validator = _spawn(
            _VALIDATOR, "neurons/validator.py",
            _common_args(workdir, _VALIDATOR, key_cache, args.logging_debug)
            + ["--state.dir", str(workdir / "state" / _VALIDATOR)]
            + ["--validator.rounds", str(rounds), "--validator.round_interval", str(args.round_interval)]
            + _flag("--validator.circuits", circuits),
            workdir,
        )
        procs.insert(0, validator)  # stopped first
        reports_path = workdir / "state" / _VALIDATOR / f"devnet-{_NETUID}-{_VALIDATOR}-default" / "reports.jsonl"
        log.info("validator started (uid %d); %s", uids[_VALIDATOR],
                 "Ctrl-C stops" if args.forever else f"running {rounds} rounds")
        seen = 0
        while validator.popen.poll() is None and not stop.is_set():
            await asyncio.sleep(0.5)
            reports = _read_reports(reports_path)
            for rnd in reports[seen:]:
                ok = sum(r["verified"] for r in rnd["records"])
                log.info("round %d: %d/%d responses verified", rnd["round"], ok, len(rnd["records"]))
                if args.forever:
                    latest = await _latest_reveal(workdir, uids[_VALIDATOR])
                    print((await _table(workdir, uids, reports[: rnd["round"]], latest))[0], flush=True)
            seen = len(reports)
            for p in procs[1:]:
                if p.popen.poll() is not None:
                    raise LocalnetError(f"{p.name} exited with code {p.popen.returncode}:\n{p.tail()}")
        if not stop.is_set() and validator.popen.returncode != 0:
            raise LocalnetError(f"the validator exited with code {validator.popen.returncode}:\n{validator.tail()}")
        reveal = None
        if not stop.is_set():
            reveal = await _wait_for_reveal(workdir, uids[_VALIDATOR], timeout=30.0)
        text, verified = await _table(workdir, uids, _read_reports(reports_path), reveal)
        print("\n" + text + "\n", flush=True)
        devnet = f"python -m neurons.devnet --state {workdir / 'chain.sqlite'}"
        print(f"logs: {workdir / 'logs'}   devnet: {devnet} metagraph --netuid {_NETUID}\n"
              f"commits and reveals: {devnet} reveals --netuid {_NETUID}", flush=True)
        if verified == 0 and not stop.is_set():
            raise LocalnetError(f"no response was verified; see the logs in {workdir / 'logs'}")
        return 0
    finally:
        _stop(procs)


def main(argv: list[str] | None = None) -> int:
    args = localnet_parser().parse_args(argv)
    configure_logging("localnet", args.logging_debug)

    async def runner() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await _run_localnet(args, stop)

    try:
        return asyncio.run(runner())
    except LocalnetError as error:
        log.error("%s", error)
        return 1


if __name__ == "__main__":
    sys.exit(main())
