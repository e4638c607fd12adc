"""Version, routes and hard size limits of the wire protocol.

Every bound here is enforced by the models (lengths) or by the transport
(body bytes, before any parsing). Changing one is a protocol change: bump
:data:`PROTOCOL_VERSION` when a message a peer used to accept is now refused.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "PROTOCOL_VERSION",
    "ROUTE_PROVE",
    "ROUTE_CAPABILITIES",
    "MAX_REQUEST_BYTES",
    "MAX_RESPONSE_BYTES",
    "MAX_INPUTS",
    "MAX_OUTPUTS",
    "MAX_PROOF_BYTES",
    "MAX_INSTANCE_GROUPS",
    "MAX_FELTS",
    "MAX_CIRCUITS",
    "MAX_MESSAGE_CHARS",
    "MAX_DEADLINE_S",
]

# 2: Capabilities gained ``lanes`` (a miner's per-circuit queues). A peer on another version
# is answered ``unsupported_version`` (miner) or ``bad_response`` naming both versions (validator).
PROTOCOL_VERSION: Final = 2

ROUTE_PROVE: Final = "/v1/prove"
ROUTE_CAPABILITIES: Final = "/v1/capabilities"

MAX_INPUTS: Final = 4096
MAX_OUTPUTS: Final = 4096
MAX_PROOF_BYTES: Final = 1 << 20  # raw bytes; base64 on the wire is 4/3 of this
MAX_INSTANCE_GROUPS: Final = 16
MAX_FELTS: Final = MAX_INPUTS + MAX_OUTPUTS  # public values of one proof, all groups together
MAX_CIRCUITS: Final = 64
MAX_MESSAGE_CHARS: Final = 512

# A request is a few hundred bytes of envelope plus MAX_INPUTS floats of at
# most ~25 JSON characters each.
MAX_REQUEST_BYTES: Final = 256 * 1024
# A response carries the base64 proof plus instance felts (66 JSON chars each).
MAX_RESPONSE_BYTES: Final = 4 * 1024 * 1024

# How far ahead a request's deadline may be (seconds, on the miner's clock).
# Circuits' timeouts are ~10 s; a far deadline would only let a request sit
# in a miner's queue for long.
MAX_DEADLINE_S: Final = 60.0
