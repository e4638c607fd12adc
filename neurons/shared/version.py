"""The project's version and the weights version key derived from it.

Validators send ``VERSION_KEY`` with every ``SetWeights``; a subnet owner can
raise the subnet's ``weights_version`` hyperparameter to turn away validators
that run an older release. Bump ``__version__`` with every release whose
scoring or protocol differs.
"""

__all__ = ["__version__", "VERSION_KEY", "version_key"]

__version__ = "0.1.0"


def version_key(version: str) -> int:
    """``"MAJOR.MINOR.PATCH"`` as ``MAJOR*10000 + MINOR*100 + PATCH`` (each part below 100)."""
    major, minor, patch = (int(part) for part in version.split("."))
    if not all(0 <= p < 100 for p in (minor, patch)) or major < 0:
        raise ValueError(f"version {version!r} does not fit the key scheme")
    return major * 10000 + minor * 100 + patch


VERSION_KEY = version_key(__version__)
