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
    return mmd_from_kernel(gaussian_kernels(x, y, kernel_mul, num_kernels), x.shape[0])


def linear_mmd(x: Tensor, y: Tensor, kernel_mul: float = 2.0, num_kernels: int = 5) -> Tensor:
    """Linear-time multi-kernel MMD^2 over cyclic neighbours, TLlib's ``linear=True`` estimator.

    (1/b) sum_i [k(x_i, x_i+1) + k(y_i, y_i+1) - k(x_i, y_i+1) - k(x_i+1, y_i)], indices mod b.
    DAN (Long et al., ICML 2015, Eq. 5) sums the same quad-tuple term over disjoint pairs
    (2i-1, 2i); TLlib's DAN script averages it over all b cyclic pairs, and adds the constant
    2 / (b - 1), which changes no gradient and is left out here. Kernels and bandwidths as in
    ``gaussian_kernels`` (computed on the joint batch: O(b^2) memory, the estimate is linear).

    Args:
        x: (b, d) source features; y: (b, d) target features (same batch size).
    Returns:
        scalar tensor; unbiased, can be negative.
    """
    b = x.shape[0]
    if y.shape[0] != b:
        raise ValueError(f"the linear MMD estimator pairs source and target samples; got batches of {b} and "
                         f"{y.shape[0]}")
    k = gaussian_kernels(x, y, kernel_mul, num_kernels)
    i = torch.arange(b, device=k.device)
    j = (i + 1) % b
    return (k[i, j] + k[i + b, j + b] - k[i, j + b] - k[j, i + b]).mean()


def coral(x: Tensor, y: Tensor, form: str = "paper") -> Tensor:
    """Correlation alignment between two feature batches.

    - ``form="paper"``: ||C_s - C_t||_F^2 / (4 d^2) (Deep CORAL, Sun & Saenko, ECCV-W 2016, Eq. 1).
    - ``form="tllib"``: mean((mu_s - mu_t)^2) + ||C_s - C_t||_F^2 / d^2, TLlib's
      CorrelationAlignmentLoss: a mean term, and 4x the paper's covariance term.

    C is the unbiased feature covariance (Eq. 2-3): (X - mean)^T (X - mean) / (n - 1).

    Args:
        x: (n, d) source features; y: (m, d) target features; n, m >= 2.
    Returns:
        scalar tensor.
    """
    if form not in ("paper", "tllib"):
        raise ValueError(f"coral form is 'paper' or 'tllib', got {form!r}")
    x, y = upcast(x), upcast(y)
    d = x.shape[1]
    covariance = (torch.cov(x.T) - torch.cov(y.T)).square().sum() / (d * d)
    if form == "paper":
        return covariance / 4
    return (x.mean(0) - y.mean(0)).square().mean() + covariance


def mmd_from_kernel(k: Tensor, n: int) -> Tensor:
    """Biased MMD^2 from a joint kernel matrix over [x; y] whose first n rows are x."""
    return k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean()


def fixed_gaussian_kernel(x: Tensor, y: Tensor, sigma: float) -> Tensor:
    """exp(-||z_i - z_j||^2 / (2 sigma^2)) on z = [x; y]: (n + m, n + m)."""
    z = upcast(torch.cat([x, y]))
    return torch.exp(-torch.cdist(z, z).square() / (2 * sigma ** 2))


def jmmd(layers_s: list[Tensor], layers_t: list[Tensor], kernel_mul: float = 2.0, num_kernels: int = 5,
         prediction_sigma: float = 0.92) -> Tensor:
    """Joint MMD^2 over several layers (JAN, Long et al., ICML 2017, Eq. 10), biased estimate.

    The joint kernel is the elementwise product of one kernel per layer: the multi-kernel
    Gaussian of ``gaussian_kernels`` for the first (features), a single Gaussian of width
    `prediction_sigma` for the others (softmax predictions; 0.92 as in TLlib's JAN).

    Args:
        layers_s: [(n, d_1), (n, d_2), ...] source activations; layers_t: same layers on target (m rows).
    Returns:
        scalar tensor.
    """
    k = gaussian_kernels(layers_s[0], layers_t[0], kernel_mul, num_kernels)
    for x, y in zip(layers_s[1:], layers_t[1:]):
        k = k * fixed_gaussian_kernel(x, y, prediction_sigma)
    return mmd_from_kernel(k, len(layers_s[0]))


def batch_spectral_penalty(x: Tensor, y: Tensor, k: int = 1) -> Tensor:
    """BSP: sum of the k largest squared singular values of each feature batch
    (Chen et al., ICML 2019, Eq. 6).

    Args:
        x: (n, d) source features; y: (m, d) target features.
    Returns:
        scalar: sum_{i<=k} sigma_i(x)^2 + sigma_i(y)^2.
    """
    return sum(torch.linalg.svdvals(upcast(f))[:k].square().sum() for f in (x, y))


def moment_distance(sources: list[Tensor], target: Tensor, moments: int = 2) -> Tensor:
    """M3SDA's moment distance MD^2 (Peng et al., ICCV 2019, Eq. 1) between N source feature batches
    and a target batch, each (n_i, d):

      sum_{k=1..moments} [ 1/N sum_i ||E(X_i^k) - E(X_T^k)||_2 + 1/C(N,2) sum_{i<j} ||E(X_i^k) - E(X_j^k)||_2 ],

    X^k the element-wise k-th power, E the mean over the batch.
    """
    total = torch.zeros((), device=target.device)
    for k in range(1, moments + 1):
        means = [upcast(x).pow(k).mean(dim=0) for x in sources]
        target_mean = upcast(target).pow(k).mean(dim=0)
        total = total + sum(torch.linalg.vector_norm(m - target_mean) for m in means) / len(means)
        pairs = [(i, j) for i in range(len(means)) for j in range(i + 1, len(means))]
        if pairs:
            total = total + sum(torch.linalg.vector_norm(means[i] - means[j]) for i, j in pairs) / len(pairs)
    return total
