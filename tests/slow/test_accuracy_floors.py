"""Accuracy floors on real data: minutes of CPU training each, so not in the default run (`pytest -m slow`)."""
import pytest

from dabench.config import family_config
from dabench.config_files import merge
from dabench.run import train

pytestmark = [pytest.mark.slow, pytest.mark.data]


def digits_run(method: str, source: str, target: str, out) -> float:
    cfg = merge(family_config("digits"), {"method": method, "source": source, "target": target,
                                          "trainer": {"steps": 1000, "eval_every": 500}})
    return train(cfg, out)["target_accuracy"]


def test_dann_beats_source_only_on_usps_to_mnist_with_lenet(data_root, tmp_path):
    source_only = digits_run("source_only", "usps", "mnist", tmp_path / "so")
    dann = digits_run("dann", "usps", "mnist", tmp_path / "dann")
    assert dann > source_only + 2


def test_embedded_default_shows_a_domain_shift_that_dann_reduces(tmp_path):
    cfg = merge(family_config("mini_digits"), {"trainer": {"steps": 500, "eval_every": 250}})
    source_only = train(merge(cfg, {"method": "source_only"}), tmp_path / "so")
    dann = train(merge(cfg, {"method": "dann"}), tmp_path / "dann")
    assert source_only["source_accuracy"] > source_only["target_accuracy"] + 20
    assert dann["target_accuracy"] > source_only["target_accuracy"] + 5
