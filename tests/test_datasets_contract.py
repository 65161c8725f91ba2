"""The contract of every registered dataset (plugins' too): it declares its domains, classes, protocol,
citation and licence; with its files present it loads labelled splits of the declared shape; with them
absent it fails with one line that says how to get them."""
import pytest
import torch

from dabench.data.base import DATASETS
from dabench.errors import DabenchError
from dabench.testing import make_audio_folder_domains, make_folder_domains


@pytest.fixture(params=DATASETS.names())
def dataset(request, tmp_path, monkeypatch):
    monkeypatch.delenv("DABENCH_DATA", raising=False)
    if request.param == "folder":
        return DATASETS.build({"name": "folder", "path": str(make_folder_domains(tmp_path / "mine", per_class=2)),
                               "image_size": 16, "workers": 0}, root=tmp_path / "data")
    if request.param == "audio_folder":
        return DATASETS.build({"name": "audio_folder", "path": str(make_audio_folder_domains(tmp_path / "clips"))},
                              root=tmp_path / "data")
    if request.param in ("spoken_digits_synth", "spoken_digits_c"):  # the speech tests' small corpus, not the whole
        return DATASETS.build({"name": request.param, "path": str(request.getfixturevalue("speech_corpus")[0])})
    return DATASETS.build(request.param, root=tmp_path / "data")  # an empty data root


def test_declares_domains_classes_and_protocol(dataset):
    # One domain is enough for task adaptation (source: none): the fine-grained benchmarks have one.
    assert len(dataset.domains) >= 1 and len(set(dataset.domains)) == len(dataset.domains)
    assert isinstance(dataset.num_classes, int) and dataset.num_classes >= 2
    assert dataset.protocol
    if dataset.name not in ("toy", "folder", "audio_folder"):  # real data: say whom to cite and under which terms
        assert dataset.citation and dataset.licence


def test_loads_labelled_splits_when_present_or_names_the_fix(dataset):
    domain = dataset.domains[0]
    if dataset.missing_files(domain):
        with pytest.raises(DabenchError) as err:
            dataset.load(domain, "train")
        assert "\n" not in str(err.value) and "dabench data" in str(err.value)
        return
    for split in ("train", "test"):
        x, y = dataset.load(domain, split).tensors
        assert len(x) == len(y) > 0 and y.dtype == torch.int64
        assert 0 <= int(y.min()) and int(y.max()) < dataset.num_classes
        assert tuple(x[:2].shape[1:]) == tuple(dataset.input_shape)
