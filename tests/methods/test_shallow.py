"""The SKADA-backed shallow methods: the same predictions as SKADA's own pipeline on the same arrays."""
import numpy as np
import pytest
import torch
from skada import CORALAdapter, SubspaceAlignmentAdapter, make_da_pipeline
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from dabench.log import Loggers
from dabench.testing import build_toy, toy_config

IDENTITY = {"model": {"backbone": {"name": "mlp", "hidden": []}, "bottleneck_dim": 0},
            "trainer": {"steps": 1, "eval_every": 1}}


@pytest.mark.parametrize("name, adapter", [("shallow_coral", CORALAdapter()),
                                           ("subspace_alignment", SubspaceAlignmentAdapter(n_components=8,
                                                                                           random_state=0))])
def test_predictions_equal_skadas_pipeline_fitted_on_the_raw_features(name, adapter, tmp_path):
    trainer, method, data = build_toy(toy_config({"name": name}, **IDENTITY))
    record = trainer.fit(method, data, tmp_path, Loggers(), seed=0).records[-1]
    x_s, y_s = data.source_train.x.numpy(), data.source_train.y.numpy()
    x_t = data.target_inputs.numpy()
    reference = make_da_pipeline(StandardScaler(), adapter, LogisticRegression(max_iter=1000))
    reference.fit(np.concatenate([x_s, x_t]), np.concatenate([y_s, -np.ones(len(x_t), dtype=int)]),
                  sample_domain=np.concatenate([np.ones(len(x_s), dtype=int), -np.ones(len(x_t), dtype=int)]))
    x_test = data.target_test.x
    expected = reference.predict_proba(x_test.numpy(), sample_domain=-np.ones(len(x_test), dtype=int))
    assert np.allclose(method.predict(x_test).exp().numpy(), expected, atol=1e-6)
    assert record["target_test_acc"] == pytest.approx(100 * (expected.argmax(1) == data.target_test.y.numpy()).mean())


def test_no_gradient_step_is_taken(tmp_path):
    trainer, method, data = build_toy(toy_config({"name": "kmm"}, **IDENTITY))
    before = {k: v.clone() for k, v in method.state_dict().items()}
    trainer.fit(method, data, tmp_path, Loggers(), seed=0)
    assert all(torch.equal(before[k], v) for k, v in method.state_dict().items())
    assert method.fitted_in_begin and torch.isfinite(method.predict(data.target_test.x)).all()
