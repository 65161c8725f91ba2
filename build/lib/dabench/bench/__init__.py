"""Benchmark grids: methods x domain pairs x seeds -> a crash-safe store -> tables and figures."""
