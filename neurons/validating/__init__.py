"""The validator side: challenges, the miner client, verification, scoring, state,
the loop and the daemon's wiring. Never imports the miner side."""
