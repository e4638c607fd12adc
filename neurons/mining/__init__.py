"""The miner side: admission of callers (the guard), the HTTP app, the daemon's wiring.
Never imports the validator side."""
