"""The embedded devnet: a local Bittensor chain in one SQLite file.

``store`` (state + wall-clock blocks), ``runtime`` (pallet logic and epoch),
``storage`` (the storage items and runtime API the SDK reads),
``substrate`` (the ``bittensor.Substrate`` adapter), ``admin`` (importable
operations), ``cli`` (``python -m neurons.devnet``). Nothing is imported here,
so importing the package has no side effects.
"""
