"""Test support, in one place. Plain functions and classes; nothing runs on import.

- ``paths``: where the checkout, its docs and the interpreter are;
- ``ports``: ``free_port``, ``port_is_free``;
- ``wallets``: ``make_wallet`` (the one wallet factory), ``hotkey_of``;
- ``cast``: the wallets and metagraph of the admission tests;
- ``chain``: metagraph builders and ``FakeChain``;
- ``provers``: ``FakeProver`` (for worker processes) and the worker functions ``worker_identity``,
  ``exit_worker``; ``AsyncFakeProver``, ``FakeVerifier``, ``FakeCircuit`` with ``fake_sample``,
  ``fake_result``;
- ``inputs``: ``fresh_input``, a real circuit's input drawn as the validator draws it;
- ``network``: ``RoutingTransport`` (validator to miners, in process);
- ``api``: ``api_rig`` (the validator's API, dispatcher and real miner apps in process), ``signed``,
  ``infer_body``;
- ``observers``: ``RecordingObserver`` (the miner app's metrics events);
- ``devnet``: ``make_devnet`` (the one devnet builder), ``StepClock``, SDK ``register``/``stake``,
  ``CountingSubstrate`` (what a caller reads from the chain);
- ``processes``: entry scripts as subprocesses (``isolated_env``, ``run``, ``Neuron``);
- ``prometheus``, ``wandb_runs``: reading what a running neuron exports;
- ``properties``: ``PROPERTY``, the hypothesis settings every property test uses.

The shared fixtures are defined once, in ``tests/conftest.py``.
"""
