"""Benchmarks against loopback emulators; run by hand (``python -m bench.rest``), never in CI."""
