"""Every benchmark config under configs/benchmarks resolves to valid runs (the image ones with
their data marked verified, since the images themselves are not on this machine)."""
import json
from pathlib import Path

import pytest

from dabench.bench.grid import load_grid
from dabench.data.archives import MARKER
from dabench.data.base import DATASETS
from dabench.data.image_lists import ImageListDataset

CONFIGS = sorted((Path(__file__).parents[1] / "configs" / "benchmarks").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_benchmark_config_resolves(path, tmp_path, monkeypatch):
    from dabench.config_files import load_yaml

    dataset = load_yaml(path)["dataset"]
    name = dataset if isinstance(dataset, str) else dataset["name"]
    if load_yaml(path).get("setting") == "stream":  # a stream benchmark: every cell resolves as a stream config
        from conftest import real_data_root

        from dabench.stream.benchmark import load_stream_grid

        if real_data_root() is None:
            pytest.skip("real datasets absent: set DABENCH_DATA (CI uses ../shared/data)")
        monkeypatch.setenv("DABENCH_DATA", str(real_data_root()))
        monkeypatch.setenv("DABENCH_CACHE", str(tmp_path / "cache"))
        assert load_stream_grid(path)["cells"]
        return
    if not issubclass(DATASETS.get(name), ImageListDataset):
        from conftest import real_data_root

        if real_data_root() is None:
            pytest.skip("real datasets absent: set DABENCH_DATA (CI uses ../shared/data)")
        monkeypatch.setenv("DABENCH_DATA", str(real_data_root()))
    else:
        cls = DATASETS.get(name)
        folder = tmp_path / cls.folder
        folder.mkdir()
        keys = [k for d in cls.domains for k in ([d] if cls.transductive else [f"{d}/train", f"{d}/test"])]
        (folder / MARKER).write_text(json.dumps({"archives": {}, "counts": {k: 1 for k in keys}}))
        monkeypatch.setenv("DABENCH_DATA", str(tmp_path))
    overrides = []
    if "model.init_from=CELL" in path.read_text():  # the file starts from a run the user names: give it one
        run = tmp_path / "pretrained"
        run.mkdir()
        backbone = load_yaml(Path(__file__).parents[1] / "configs" / "datasets" / f"{name}.yaml")["model"]["backbone"]
        backbone = {"name": backbone} if isinstance(backbone, str) else backbone
        from dabench.models.backbones import BACKBONES

        defaults = {k: v.default for k, v in __import__("inspect").signature(BACKBONES.get(backbone["name"])).parameters
                    .items() if k != "input_shape"}
        (run / "result.json").write_text(json.dumps({"config": {"model": {"backbone": {**defaults, **backbone}}},
                                                     "config_hash": "0" * 16}))
        (run / "checkpoint.pt").write_bytes(b"")
        overrides = [f"model.init_from={run}"]
    grid = load_grid(path, overrides)
    assert grid.cells
