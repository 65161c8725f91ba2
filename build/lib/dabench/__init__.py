"""dabench: domain-adaptation benchmarks in PyTorch.

The Python API, for notebooks and scripts (docs/api.md has a worked example):

    train(cfg, out)               one run from a config dict -> its result (what `dabench train` does)
    bench(path, out, overrides)   a benchmark file -> runs, tables and figures (`dabench bench`)
    load_results(out)             a benchmark folder's finished runs as a pandas DataFrame
    Method                        the base class of a method: return named loss terms
    register_method(name)         decorators that add a method, dataset or backbone by name
    register_dataset(name)
    register_backbone(name)

Packages outside dabench add theirs through the ``dabench.plugins`` entry-point group.
"""
__version__ = "0.1.0"

from dabench.bench.benchmark import run_benchmark as bench
from dabench.data.base import DATASETS
from dabench.methods.base import METHODS, Method
from dabench.models.backbones import BACKBONES
from dabench.run import train

register_method = METHODS.register
register_dataset = DATASETS.register
register_backbone = BACKBONES.register


def load_results(out):
    """The finished runs of the benchmark folder `out`: one row per run (method, source, target,
    seed, target_accuracy, source_accuracy, ...), a pandas DataFrame."""
    from dabench.bench.store import ResultStore

    return ResultStore(out).load()


__all__ = ["train", "bench", "load_results", "Method", "register_method", "register_dataset", "register_backbone"]
