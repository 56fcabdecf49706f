"""Benchmarks for the citizen assistant (see bench/README.md)."""
