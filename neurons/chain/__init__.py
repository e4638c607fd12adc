"""Chain access: everything the neurons read from or write to a Bittensor chain.

- ``errors``: ``ChainFailure`` and one leaf per reason;
- ``types``: ``NeuronInfo``, ``MetagraphView``, ``WriteResult``, ``CommitReveal``, ``Commitment`` and the
  ``ChainAccess`` protocol the roles depend on;
- ``client``: ``connect`` and ``Chain``, over the bittensor 11 SDK's ``Client``;
- ``wallets``: loading wallets, the register command, the default paths.

The devnet is one more ``bittensor.Substrate`` handed in by the caller
(``connect(substrate=…)``): this package imports neither the devnet nor a role.
"""

from neurons.chain.client import NETWORKS, Chain, connect
from neurons.chain.errors import (
    ChainFailure,
    ChainReadFailed,
    ChainUnreachable,
    NotRegistered,
    UnknownNetwork,
    UnknownSubnet,
    WalletMissing,
)
from neurons.chain.types import ChainAccess, Commitment, CommitReveal, MetagraphView, NeuronInfo, WriteResult
from neurons.chain.wallets import (
    DEFAULT_DEVNET_STATE,
    DEFAULT_WALLET_PATH,
    load_wallet,
    register_command,
    require_registered,
)

__all__ = [
    "ChainFailure",
    "UnknownNetwork",
    "ChainUnreachable",
    "WalletMissing",
    "NotRegistered",
    "UnknownSubnet",
    "ChainReadFailed",
    "NeuronInfo",
    "MetagraphView",
    "WriteResult",
    "CommitReveal",
    "Commitment",
    "ChainAccess",
    "Chain",
    "NETWORKS",
    "connect",
    "load_wallet",
    "require_registered",
    "register_command",
    "DEFAULT_WALLET_PATH",
    "DEFAULT_DEVNET_STATE",
]
