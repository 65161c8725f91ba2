"""dabench: domain-adaptation benchmarks in PyTorch.

Public API: the registries, the Method base class, Trainer and ``train`` (one run).
"""
__version__ = "0.1.0"
