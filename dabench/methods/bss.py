"""BSS: Batch Spectral Shrinkage against negative transfer in fine-tuning. Chen et al., NeurIPS 2019.

  L = CE + eta * sum_{i=1..k} sigma_{-i}^2                               (Eq. 6)

sigma_{-i}: the i-th smallest singular value of the batch's (N, d) feature matrix (the features
the classifier reads). Small singular directions carry the pretrained knowledge that does not
transfer; shrinking them suppresses it. Defaults from the paper: eta 0.001, k 1.
"""
from dabench.losses.fine_tuning import smallest_singular_values
from dabench.methods.base import METHODS
from dabench.methods.fine_tune import FineTune


@METHODS.register("bss")
class BSS(FineTune):
    def __init__(self, trade_off: float = 0.001, k: int = 1, label_smoothing: float = 0.0,
                 allow_random_backbone: bool = False):
        super().__init__(label_smoothing, allow_random_backbone)
        self.trade_off, self.k = trade_off, k

    def loss(self, s, t, progress):
        out = self.model(s.x)
        return {"cls": self.cross_entropy(out.logits, s.y),
                "bss": self.trade_off * smallest_singular_values(out.features, self.k)}
