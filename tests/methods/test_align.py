import pytest
import torch

from dabench.errors import DabenchError
from dabench.losses.discrepancy import coral, mmd
from dabench.methods.base import METHODS
from dabench.testing import outputs


def test_align_sums_named_terms_with_their_weights():
    method = METHODS.build({"name": "align", "terms": {"mmd": 1.0, "coral": {"weight": 0.5}}})
    method.build(type("M", (), {"feature_dim": 5})(), num_classes=3, steps=100)
    out_s, out_t = outputs(n=9, dim=5)
    terms = method.align(out_s, out_t, 0.5)
    assert set(terms) == {"mmd", "coral"}
    assert torch.allclose(terms["mmd"], mmd(out_s.features, out_t.features))
    assert torch.allclose(terms["coral"], 0.5 * coral(out_s.features, out_t.features))


def test_align_rejects_bad_term_options():
    with pytest.raises(DabenchError, match="alignment term 'mmd': unknown parameter 'kernels'"):
        METHODS.build({"name": "align", "terms": {"mmd": {"weight": 1.0, "kernels": 3}}})
    with pytest.raises(DabenchError, match="needs a 'weight'"):
        METHODS.build({"name": "align", "terms": {"coral": {}}})
