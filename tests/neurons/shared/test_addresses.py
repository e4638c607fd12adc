"""neurons.shared.addresses: which axon IPs are worth querying, which chain endpoints are this machine."""

from __future__ import annotations

import pytest

from neurons.shared.addresses import is_loopback_endpoint, routable


@pytest.mark.parametrize(
    "ip, ok",
    [("1.2.3.4", True), ("2606:4700::1111", True), ("127.0.0.1", False), ("10.0.0.1", False),
     ("192.168.1.5", False), ("172.16.0.1", False), ("169.254.0.1", False), ("100.64.0.1", False),
     ("0.0.0.0", False), ("::1", False), ("fe80::1", False), ("::ffff:127.0.0.1", False),
     ("224.0.0.1", False), ("not-an-ip", False)],
)
def test_routable_means_a_global_unicast_address(ip, ok):
    assert routable(ip) is ok


@pytest.mark.parametrize(
    "url, local",
    [("ws://127.0.0.1:9944", True), ("ws://127.1.2.3", True), ("wss://localhost:443", True),
     ("ws://[::1]:9944", True), ("ws://10.0.0.5:9944", False), ("wss://entrypoint-finney.opentensor.ai:443", False),
     ("http://127.0.0.1:9944", False), ("finney", False), ("local", False), ("ws://", False)],
)
def test_loopback_endpoint_is_a_ws_url_to_this_machine(url, local):
    assert is_loopback_endpoint(url) is local
