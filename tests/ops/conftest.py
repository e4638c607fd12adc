import pytest


@pytest.fixture(scope="session")
def ops_key_cache(request, tmp_path_factory):
    """A proving-key cache shared by every neuron these tests start.

    The session's ``key_cache`` (derived once for every circuit) when the
    suite provides one; else an empty folder the first miner fills.
    """
    try:
        return request.getfixturevalue("key_cache")
    except pytest.FixtureLookupError:
        return tmp_path_factory.mktemp("ops-keys")
