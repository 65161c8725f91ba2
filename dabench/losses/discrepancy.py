"""Distribution discrepancies between source and target feature batches."""
from __future__ import annotations

import torch
from torch import Tensor

from dabench.losses import upcast


def gaussian_kernels(x: Tensor, y: Tensor, kernel_mul: float = 2.0, num_kernels: int = 5) -> Tensor:
    """Sum of Gaussian kernels on the joint batch z = [x; y].

    Bandwidths are sigma_k^2 = base * kernel_mul^(k - num_kernels // 2), k = 0..num_kernels-1,
    with `base` the mean pairwise squared distance of z (detached), as in DAN's
    multi-kernel MMD with equal kernel weights (Long et al., ICML 2015, Sec. 3.1).

    Args:
        x: (n, d), y: (m, d).
    Returns:
        (n + m, n + m) kernel matrix sum_k exp(-||z_i - z_j||^2 / sigma_k^2).
    """
    z = upcast(torch.cat([x, y]))
    sq_dist = torch.cdist(z, z).square()
    n = z.shape[0]
    base = sq_dist.detach().sum() / max(n * n - n, 1)
    base = base.clamp_min(torch.finfo(base.dtype).tiny)
    scales = kernel_mul ** (torch.arange(num_kernels, device=z.device) - num_kernels // 2)
    return torch.exp(-sq_dist.unsqueeze(0) / (base * scales).view(-1, 1, 1)).sum(0)


def mmd(x: Tensor, y: Tensor, kernel_mul: float = 2.0, num_kernels: int = 5) -> Tensor:
    """Squared multi-kernel MMD, biased (V-statistic) estimate.

    MMD^2 = mean(K_xx) + mean(K_yy) - 2 mean(K_xy)  (Gretton et al. 2012, Eq. 5; DAN Eq. 3).
    Exactly 0 when x and y are the same batch. Computed in float32 for bf16 inputs.

    Args:
        x: (n, d) source features; y: (m, d) target features.
    Returns:
        scalar tensor.
    """
    n = x.shape[0]
    k = gaussian_kernels(x, y, kernel_mul, num_kernels)
    return k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean()


def coral(x: Tensor, y: Tensor) -> Tensor:
    """Deep CORAL loss ||C_s - C_t||_F^2 / (4 d^2) (Sun & Saenko, ECCV-W 2016, Eq. 1).

    C is the unbiased feature covariance (Eq. 2-3): (X - mean)^T (X - mean) / (n - 1).

    Args:
        x: (n, d) source features; y: (m, d) target features; n, m >= 2.
    Returns:
        scalar tensor.
    """
    x, y = upcast(x), upcast(y)
    d = x.shape[1]
    cov_x = torch.cov(x.T)
    cov_y = torch.cov(y.T)
    return (cov_x - cov_y).square().sum() / (4 * d * d)
