"""Benchmarks (not tests): speed and memory targets measured side by side; ``python -m bench.performance`` writes docs/performance.md."""
