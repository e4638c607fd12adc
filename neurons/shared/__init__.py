"""What both daemons share: flags and settings, start-up, signals, HTTP serving,
worker processes, nonces and the release version. Imports neither role."""
