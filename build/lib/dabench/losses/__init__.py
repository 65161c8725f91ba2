"""Loss functions (pure, shape-documented) and their AlignmentTerm wrappers."""
import torch
from torch import Tensor


def upcast(x: Tensor) -> Tensor:
    """float16/bfloat16 -> float32 for numerically sensitive reductions; float32/64 unchanged."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
