import pytest

from tests.neurons.devnet.fixtures import make_devnet, make_wallet


@pytest.fixture(autouse=True)
def _isolated_sdk_cache(tmp_path, monkeypatch):
    """Keep the SDK's token-symbol cache out of the real home directory."""
    monkeypatch.setenv("BTCLI_TOKEN_SYMBOLS_CACHE", str(tmp_path / "token_symbols.json"))


@pytest.fixture(scope="session")
def wallets(tmp_path_factory):
    root = tmp_path_factory.mktemp("wallets")
    return {name: make_wallet(root, name, seed) for seed, name in enumerate(
        ["validator", "validator2", "miner", "miner2", "outsider"], start=1)}


@pytest.fixture
def devnet(tmp_path):
    net = make_devnet(tmp_path, tempo=4, weights_rate_limit=3)
    yield net
    net.store.close()
