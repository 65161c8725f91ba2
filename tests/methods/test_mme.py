import torch

from dabench.losses.target import entropy
from dabench.methods.mme import CosineClassifier
from dabench.testing import build_toy, toy_config
from dabench.types import Batch, Outputs


def test_cosine_classifier_logits_are_bounded_by_one_over_t():
    head = CosineClassifier(6, 4, temperature=0.05)
    assert head(torch.randn(10, 6) * 100).abs().max() <= 20 + 1e-4


def test_classifier_ascends_target_entropy_while_features_descend_it():
    _, method, data = build_toy(toy_config("mme"))
    head = method.model.classifier
    assert isinstance(head, CosineClassifier)
    torch.manual_seed(0)
    f_s, f_t = torch.randn(8, 8), torch.randn(8, 8, requires_grad=True)
    method.forward_pair = lambda x_s, x_t: (Outputs(f_s, head(f_s)), Outputs(f_t, head(f_t)))
    s = Batch(data.source_train.x[:8], data.source_train.y[:8], torch.arange(8))
    terms = method.loss(s, Batch(data.target_train[:8], None, torch.arange(8)), 0.5)
    terms["minimax_ent"].backward()
    weight = head.prototypes.weight
    with torch.no_grad():
        h_before = entropy(head(f_t)).item()
        weight -= 0.01 * weight.grad  # the classifier's SGD step
        assert entropy(head(f_t)).item() > h_before
        weight += 0.01 * weight.grad
        assert entropy(head(f_t - 0.01 * f_t.grad)).item() < h_before  # the features' step
