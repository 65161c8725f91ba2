"""Protocol presets (configs/protocols/) and the options they turn on, each against a hand-computed value."""
import math

import pytest
import torch
import yaml

from dabench import protocols
from dabench.bench.grid import load_grid
from dabench.errors import DabenchError
from dabench.losses.adversarial import DomainDiscriminator, reversal_coefficient
from dabench.losses.discrepancy import coral, gaussian_kernels, linear_mmd
from dabench.methods.base import METHODS
from dabench.schema import Optim
from dabench.trainer import make_schedule


def test_warm_start_reversal_counts_iterations_and_the_paper_schedule_counts_progress():
    # TLlib: 2 / (1 + exp(-i / 1000)) - 1 at iteration i = 1,000, whatever the run length.
    assert reversal_coefficient(1000 / 50000, 50000, gamma=1.0, warm_start_iters=1000) == pytest.approx(
        2 / (1 + math.exp(-1)) - 1)
    assert reversal_coefficient(0.5, 2000, gamma=1.0, warm_start_iters=1000) == pytest.approx(0.46211716)
    # The paper: lambda_p with p = step / steps = 0.02 -> 2 / (1 + exp(-0.2)) - 1.
    assert reversal_coefficient(0.02, 50000) == pytest.approx(0.09966799)
    # MDD's peak 0.1 scales either ramp.
    assert reversal_coefficient(1.0, 100, gamma=1.0, warm_start_iters=100, peak=0.1) == pytest.approx(0.046211716)


def test_coral_forms_on_a_worked_example():
    # x: mean (1, 0), C_x = diag(2, 0); y: mean (0, 1), C_y = diag(0, 2); ||C_x - C_y||_F^2 = 8, d = 2.
    x = torch.tensor([[0.0, 0.0], [2.0, 0.0]])
    y = torch.tensor([[0.0, 0.0], [0.0, 2.0]])
    assert coral(x, y).item() == pytest.approx(8 / (4 * 4))        # paper: 8 / (4 d^2)
    assert coral(x, y, "tllib").item() == pytest.approx(1 + 8 / 4)  # mean((1, -1)^2) + 8 / d^2


def test_linear_mmd_on_a_worked_example():
    # x = [0, 0], y = [1, 1]: mean squared distance off the diagonal 8/12, one kernel exp(-d^2 / (2/3)).
    x, y = torch.zeros(2, 1), torch.ones(2, 1)
    expected = 2 - 2 * math.exp(-1.5)  # per cyclic pair: k(x,x') + k(y,y') - 2 k(x,y)
    assert linear_mmd(x, y, num_kernels=1).item() == pytest.approx(expected)


def test_linear_mmd_equals_the_index_matrix_form():
    torch.manual_seed(0)
    x, y = torch.randn(6, 3), torch.randn(6, 3) + 1
    b = 6
    index = torch.zeros(2 * b, 2 * b)  # TLlib's written-out form of the same estimator
    for i in range(b):
        j = (i + 1) % b
        index[i, j] = index[i + b, j + b] = 1 / b
        index[i, j + b] = index[j, i + b] = -1 / b
    reference = (gaussian_kernels(x, y) * index).sum()
    assert linear_mmd(x, y).item() == pytest.approx(reference.item(), abs=1e-6)
    with pytest.raises(ValueError, match="pairs source and target"):
        linear_mmd(x, y[:5])


def test_inv_iter_schedule_is_per_iteration():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.1)
    schedule = make_schedule(optimizer, Optim(schedule="inv_iter", gamma=0.001, lr=0.1), steps=50000)
    for _ in range(1000):
        optimizer.step()
        schedule.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 2 ** -0.75)


def test_discriminator_norms():
    paper = [type(m).__name__ for m in DomainDiscriminator(4, 8).net]
    tllib = [type(m).__name__ for m in DomainDiscriminator(4, 8, "batchnorm").net]
    assert "Dropout" in paper and "BatchNorm1d" not in paper
    assert tllib == ["Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU", "Linear"]


def test_tllib_rules_on_hand_picked_runs():
    dann = protocols.layer("tllib", {"method": "dann", "dataset": "digits", "source": "usps", "target": "mnist"})
    assert dann["optim"] == {"schedule": "inv_iter", "gamma": 0.001, "weight_decay": 0.001, "lr": 0.1}
    assert dann["method"] == {"warm_start_iters": 1000, "gamma": 1.0, "discriminator": "batchnorm"}
    assert dann["trainer"] == {"batch_size": 128, "steps": 50000} and dann["val_fraction"] == 0.0
    mdd = protocols.layer("tllib", {"method": "mdd", "dataset": "digits", "source": "usps", "target": "mnist"})
    assert mdd["optim"]["lr"] == 0.01 and mdd["model"] == {
        "bottleneck_dim": 1024, "head_width": 1024, "dropout": 0.5, "init": "mdd"}  # the later, narrower rule
    dan = protocols.layer("tllib", {"method": "dan", "dataset": "digits", "source": "mnist", "target": "usps"})
    assert dan["model"] == {"bottleneck_batchnorm": False, "dropout": 0.5} and dan["optim"]["lr"] == 0.01
    jan = protocols.layer("tllib", {"method": "jan", "dataset": "office31", "source": "amazon", "target": "webcam"})
    assert jan["model"] == {"dropout": 0.5} and jan["trainer"]["steps"] == 10000
    mcc = protocols.layer("tllib", {"method": "mcc", "dataset": "office31", "source": "amazon", "target": "webcam"})
    assert mcc["trainer"]["steps"] == 10000 and mcc["model"]["bottleneck_dim"] == 1024
    assert protocols.layer("paper", {"method": "dann", "dataset": "digits"}) == {}


def test_every_tllib_method_option_differs_from_the_papers_default():
    # Dataset rules may restore a default that a method rule changed (BSP's weight on digits).
    for rule in (r for r in protocols.load("tllib").rules if "dataset" not in r.when):
        names = rule.when.get("method", [])
        for name in [names] if isinstance(names, str) else names:
            defaults = METHODS.parameters(name)
            for key, value in rule.set.get("method", {}).items():
                assert defaults[key] != value, (name, key)


def test_unknown_protocol_lists_the_known_ones():
    with pytest.raises(DabenchError, match="unknown protocol 'tlib'; known: paper, tllib"):
        protocols.load("tlib")


def _grid(tmp_path, **extra):
    spec = {"dataset": "digits", "pairs": [["usps", "mnist"]], "methods": ["source_only", "dann", "mdd"],
            "seeds": [0], "protocol": "tllib", **extra}
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(spec))
    return load_grid(path)


def test_benchmark_values_win_over_the_protocol_and_the_footer_says_so(tmp_path, data_root):
    grid = _grid(tmp_path, overrides={"trainer.steps": 2000},
                 methods=["source_only", {"name": "dann", "discriminator": "dropout"}, "mdd"])
    configs = {c.method: c.config for c in grid.cells}
    assert configs["dann"]["protocol"] == "tllib"
    assert configs["dann"]["trainer"] == {**configs["dann"]["trainer"], "steps": 2000, "batch_size": 128}
    assert configs["dann"]["method"]["discriminator"] == "dropout"  # the entry's own option
    assert configs["dann"]["method"]["warm_start_iters"] == 1000
    assert configs["mdd"]["optim"]["lr"] == 0.01 and configs["dann"]["optim"]["lr"] == 0.1
    footer = "\n".join(protocols.footer([{"method": c.method, "config": c.config} for c in grid.cells]))
    assert "Protocol: **tllib**" in footer
    assert ('- dann: optim.schedule="inv_iter", optim.gamma=0.001, optim.weight_decay=0.001, optim.lr=0.1, '
            'method.warm_start_iters=1000, method.gamma=1.0') in footer
    assert 'overridden by this benchmark: method.discriminator="dropout" (tllib: "batchnorm")' in footer
    assert "trainer.steps=2000 (tllib: 50000)" in footer


def test_paper_is_the_default_and_a_cli_override_chooses_the_protocol(tmp_path, data_root):
    spec = {"dataset": "digits", "pairs": [["usps", "mnist"]], "methods": ["dann"], "seeds": [0]}
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(spec))
    paper = load_grid(path).cells[0].config
    tllib = load_grid(path, ["protocol=tllib"]).cells[0].config
    assert paper["protocol"] == "paper" and paper["method"]["warm_start_iters"] is None
    assert tllib["method"]["discriminator"] == "batchnorm" and tllib["optim"]["schedule"] == "inv_iter"
    assert paper["trainer"]["batch_size"] == 64 and tllib["trainer"]["batch_size"] == 128
