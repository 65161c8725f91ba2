import torch

from dabench.data.loaders import source_batches
from dabench.losses.discrepancy import moment_distance
from dabench.testing import build_toy, toy_config
from dabench.types import Batch


def test_moment_distance_by_hand():
    s1 = torch.tensor([[0.0, 0.0], [2.0, 0.0]])  # mean (1, 0), second moment (2, 0)
    s2 = torch.tensor([[1.0, 1.0], [1.0, 1.0]])  # mean (1, 1), second moment (1, 1)
    t = torch.tensor([[1.0, 3.0], [1.0, 3.0]])  # mean (1, 3), second moment (1, 9)
    first = (3.0 + 2.0) / 2 + 1.0  # to the target: |(0,-3)|, |(0,-2)|; between sources: |(0,-1)|
    second = (torch.tensor([1.0, -9.0]).norm() + torch.tensor([0.0, -8.0]).norm()) / 2 + torch.tensor([1.0, -1.0]).norm()
    assert torch.allclose(moment_distance([s1, s2], t), first + second)
    assert torch.allclose(moment_distance([s1, s2], t, moments=1), torch.tensor(first))


def test_the_loss_matches_each_source_batch_to_the_target():
    _, method, data = build_toy(toy_config({"name": "m3sda", "trade_off": 0.5}, source=["a", "c"]))
    method.eval()
    s = source_batches(data.source_train, 12, seed=0).batch(0)  # 6 of each source
    t = Batch(data.target_train[:10], None, torch.arange(10))
    terms = method.loss(s, t, progress=0.3)
    out_s, out_t = method.forward_pair(s.x, t.x)
    by_domain = [out_s.features[s.domain == d] for d in (0, 1)]
    assert torch.allclose(terms["moments"], 0.5 * moment_distance(by_domain, out_t.features))
