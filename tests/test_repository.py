"""What the repository itself must hold (and must not): no proving key, one version."""

from tests.support.paths import REPO_ROOT as ROOT


def test_no_proving_key_is_committed():
    """Proving keys are derived on the miner's machine (4-550 MB); only vk.key is pinned."""
    import subprocess

    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert not [f for f in tracked if f.endswith((".pk", "pk.key"))]


def test_weights_version_key_follows_the_project_version():
    import tomllib

    from neurons.shared.version import VERSION_KEY, __version__, version_key

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert __version__ == project["version"]
    assert VERSION_KEY == version_key(project["version"])
