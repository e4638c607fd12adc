"""CPU per query of the validator's HTTP client choices, side by side (not a test).

``python bench/http_clients.py [--queries 400] [--concurrency 32]``

A local server (uvicorn + starlette in a child process, so its CPU is not counted) answers
every ``POST`` with a 6,000-byte body, about a proof response's size. In this process each
client sends the same queries, ``--concurrency`` at a time, and the CPU-seconds of this
process per query are printed (``time.process_time``: the machine's other load moves wall
time much more than CPU time). Clients, each run twice, interleaved:

- ``httpx default``: ``httpx.AsyncClient`` with its own transport (httpcore, anyio, h11);
- ``MinerTransport``: the validator's transport (``neurons.validating.transport``: aiohttp's
  client behind httpx's transport interface, one connection per query), called as
  ``MinerClient`` calls it;
- ``aiohttp, kept alive``: a bare ``aiohttp.ClientSession`` reusing connections: the floor
  (rounds cannot reuse connections: miners close idle ones after 5 s).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402
import httpx  # noqa: E402

from neurons.validating.transport import MinerTransport  # noqa: E402

BODY_BYTES = 6000


def serve(port: int) -> None:
    """The child: answer every POST /p with BODY_BYTES bytes."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def answer(request: Request) -> Response:
        await request.body()
        return Response(b"x" * BODY_BYTES, media_type="application/json")

    uvicorn.run(Starlette(routes=[Route("/p", answer, methods=["POST"])]), host="127.0.0.1", port=port,
                log_level="warning")


async def cpu_per_query(one: Callable[[], Awaitable[None]], queries: int, concurrency: int) -> float:
    for _ in range(20):  # warm up
        await one()
    gate = asyncio.Semaphore(concurrency)

    async def gated() -> None:
        async with gate:
            await one()

    started = time.process_time()
    await asyncio.gather(*(gated() for _ in range(queries)))
    return (time.process_time() - started) / queries


async def compare(url: str, queries: int, concurrency: int) -> dict[str, list[float]]:
    body = b"y" * 3000
    results: dict[str, list[float]] = {"httpx default": [], "MinerTransport": [], "aiohttp, kept alive": []}
    for _ in range(2):
        async with httpx.AsyncClient(trust_env=False, limits=httpx.Limits(max_connections=300)) as client:
            async def via_httpx() -> None:
                response = await client.post(url, content=body)
                assert response.status_code == 200 and len(response.content) == BODY_BYTES
            results["httpx default"].append(await cpu_per_query(via_httpx, queries, concurrency))
        transport = MinerTransport()

        async def via_transport() -> None:
            response = await transport.handle_async_request(httpx.Request("POST", url, content=body))
            assert len(await response.aread()) == BODY_BYTES
            await response.aclose()
        results["MinerTransport"].append(await cpu_per_query(via_transport, queries, concurrency))
        await transport.aclose()
        async with aiohttp.ClientSession() as session:
            async def via_aiohttp() -> None:
                async with session.post(url, data=body) as response:
                    assert len(await response.read()) == BODY_BYTES
            results["aiohttp, kept alive"].append(await cpu_per_query(via_aiohttp, queries, concurrency))
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/http_clients.py", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--queries", type=int, default=400, help="Queries per client per pass.")
    p.add_argument("--concurrency", type=int, default=32, help="Queries in flight at once.")
    p.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve is not None:
        serve(args.serve)
        return 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        results = asyncio.run(compare(f"http://127.0.0.1:{port}/p", args.queries, args.concurrency))
    finally:
        server.terminate()
        server.wait()
    base = min(results["httpx default"])
    for name, cpu in results.items():
        print(f"{name:<20} {min(cpu) * 1000:6.2f} ms CPU per query (best of {len(cpu)}), "
              f"{min(cpu) / base:.2f}x httpx default")
    return 0


if __name__ == "__main__":
    sys.exit(main())
