"""LAME: Laplacian Adjusted Maximum-likelihood Estimation. Boudiaf et al., "Parameter-free Online Test-time
Adaptation", CVPR 2022, arXiv:2201.05718.

Output-only: the model is not changed. For each batch, the assignments Z (N, C) maximise the
likelihood under the source predictions P plus a Laplacian term that makes neighbours agree
(Eq. 5); the bound optimisation iterates z_i <- softmax(log p_i + sum_j w_ij z_j) from Z = P until
the assignments stop changing (Eq. 7). W is the kNN affinity of the L2-normalised features:
w_ij = 1 if j is one of the `knn` (5, the paper's default) nearest neighbours of i, j != i.
Updates nothing; keeps nothing between batches.
"""
import torch
import torch.nn.functional as F

from dabench.stream.base import STREAM_METHODS, StreamMethod


def knn_affinity(features, knn):
    """(N, d) features -> (N, N) 0/1 affinity: row i marks the `knn` nearest other samples (cosine)."""
    normed = F.normalize(features, dim=1)
    similarity = normed @ normed.T
    similarity.fill_diagonal_(-float("inf"))
    nearest = similarity.topk(min(knn, len(features) - 1), dim=1).indices
    return torch.zeros_like(similarity).scatter_(1, nearest, 1.0)


def laplacian_assignments(probs, affinity, max_iterations: int = 100, tolerance: float = 1e-8):
    """(N, C) probabilities, (N, N) affinity -> (N, C) assignments Z of LAME's bound optimisation."""
    log_probs = probs.clamp_min(1e-12).log()
    z = probs
    for _ in range(max_iterations):
        updated = (log_probs + affinity @ z).softmax(1)
        done = (updated - z).abs().max() < tolerance
        z = updated
        if done:
            break
    return z


@STREAM_METHODS.register("lame")
class LAME(StreamMethod):
    """Laplacian-regularised adjustment of the source predictions, per batch; no weight changes."""

    def __init__(self, knn: int = 5, max_iterations: int = 100):
        super().__init__()
        self.knn, self.max_iterations = knn, max_iterations

    def adapt(self, x):
        with torch.no_grad():
            outputs = self.model(x)
            if len(x) < 2:  # no neighbour to agree with
                return outputs.logits
            z = laplacian_assignments(outputs.logits.softmax(1), knn_affinity(outputs.features, self.knn),
                                      self.max_iterations)
            return z.clamp_min(1e-12).log()
