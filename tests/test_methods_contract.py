"""Every registered method, for free: run on toy data through the real Trainer."""
import copy
import io

import pytest
import torch

from dabench.log import Loggers
from dabench.methods.base import METHODS
from dabench.testing import build_toy, method_sections, toy_config


def contract_config(name: str) -> dict:
    images = {"dataset": {"name": "toy", "dim": 16, "as_image": True}} if name == "fixmatch" else {}
    sections = method_sections(name, sources=["a", "c"], known_classes=[0, 1])
    return toy_config(sections.pop("method"), trainer={"steps": 3, "eval_every": 3, "log_every": 1}, **images,
                      **sections)


@pytest.fixture(params=METHODS.names())
def trained(request, tmp_path):
    cfg = contract_config(request.param)
    trainer, method, data = build_toy(cfg)
    before = copy.deepcopy(method.state_dict())
    seen = []
    original_updates = method.updates

    def spy(s, t, progress, t_labeled=None):
        for name, terms in original_updates(s, t, progress, t_labeled):
            seen.append((s, t, progress, terms))
            yield name, terms

    method.updates = spy
    records = trainer.fit(method, data, tmp_path, Loggers(), seed=0).records
    return cfg, method, data, before, seen, records


def test_terms_are_named_finite_and_sum_to_total(trained):
    *_, seen, records = trained
    for *_, terms in seen:
        assert all(isinstance(k, str) and k for k in terms)
        assert all(v.dim() == 0 and torch.isfinite(v) for v in terms.values())
    last = records[-1]
    parts = sum(v for k, v in last.items() if k.startswith("loss/") and k != "loss/total")
    assert last["loss/total"] == pytest.approx(parts, rel=1e-5)


def test_the_model_changes(trained):
    _, method, data, before, *_ = trained
    if method.fitted_in_begin:  # the fitted estimator predicts, not the untouched torch head
        x = data.target_test.x[:7]
        assert not torch.allclose(method.predict(x), method.model(x).logits.log_softmax(1), atol=1e-3)
        return
    after = method.state_dict()
    changed = [k for k in before if before[k].is_floating_point() and not torch.equal(before[k], after[k])]
    assert any(k.startswith("model.") for k in changed)  # weights, or AdaBN's statistics


def test_target_batches_carry_no_labels_and_progress_is_increasing(trained):
    _, method, data, _, seen, _ = trained
    assert all((t is None or t.y is None) and s.y is not None for s, t, _, _ in seen)
    assert all((t is None) == (len(data.target_train) == 0) for _, t, _, _ in seen)  # DG runs get no target batch
    assert sorted(set(p for _, _, p, _ in seen)) == ([] if method.fitted_in_begin else [0.0, 1 / 3, 2 / 3])


def test_predict_shape_and_state_dict_round_trip(trained):
    cfg, method, data, *_ = trained
    method.eval()
    logits = method.predict(data.target_test.x[:7])
    assert logits.shape == (7, data.num_classes + method.unknown_output)  # K + 1 with an unknown output
    _, fresh, _ = build_toy(cfg)
    fresh.begin(data.source_train, data.target_inputs)  # as trainer.start does
    buffer = io.BytesIO()
    torch.save(method.state_dict(), buffer)
    buffer.seek(0)
    fresh.load_state_dict(torch.load(buffer))
    fresh.eval()
    assert torch.equal(fresh.predict(data.target_test.x[:7]), logits)


@pytest.mark.parametrize("name", METHODS.names())
def test_same_seed_gives_bit_identical_weights(name, tmp_path):
    weights = []
    for run in range(2):
        trainer, method, data = build_toy(contract_config(name))
        trainer.fit(method, data, tmp_path / str(run), Loggers(), seed=0)
        weights.append(method.state_dict())
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_a_method_that_reads_target_labels_fails(tmp_path):
    trainer, method, data = build_toy(contract_config("source_only"))

    def cheat(s, t, progress):
        return {"cls": torch.nn.functional.cross_entropy(method.model(t.x).logits, t.y)}

    method.loss = cheat
    with pytest.raises(TypeError):
        trainer.fit(method, data, tmp_path, Loggers(), seed=0)
    assert isinstance(data.target_train, torch.Tensor)  # inputs only: no labels exist to leak
