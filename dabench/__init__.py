"""dabench: domain-adaptation benchmarks in PyTorch.

The Python API, for notebooks and scripts (docs/python.md has a worked example):

    train(cfg, out)               one run from a config dict -> its result (what `dabench train` does)
    run_benchmark(path, out)      a benchmark file -> runs, tables and figures (`dabench bench`)
    load_results(out)             a benchmark folder's finished runs as a pandas DataFrame
    Method                        the base class of a method: return named loss terms
    register_method(name)         decorators that add a method, dataset or backbone by name
    register_dataset(name)
    register_backbone(name)
    rank(cfg, candidates, scores)  transferability scores of pretrained candidates (`dabench rank`)
    register_score(name)          a transferability score: (features, labels, source_logits) -> float

Packages outside dabench add theirs through the ``dabench.plugins`` entry-point group. The names
are imported on first use, so ``import dabench.errors`` (or ``dabench --version``) stays light.
"""
import importlib

__version__ = "0.1.0"

# name -> (module, attribute path in it)
_API = {
    "train": ("dabench.run", "train"),
    "run_benchmark": ("dabench.bench.benchmark", "run_benchmark"),  # not `bench`: that is the subpackage
    "load_results": ("dabench.bench.store", "load_results"),
    "Method": ("dabench.methods.base", "Method"),
    "register_method": ("dabench.methods.base", "METHODS.register"),
    "register_dataset": ("dabench.data.base", "DATASETS.register"),
    "register_backbone": ("dabench.models.backbones", "BACKBONES.register"),
    "rank": ("dabench.transferability.rank", "rank"),
    "register_score": ("dabench.transferability", "SCORES.register"),
}
__all__ = list(_API)


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'dabench' has no attribute '{name}'")
    module, path = _API[name]
    value = importlib.import_module(module)
    for part in path.split("."):
        value = getattr(value, part)
    return value
