"""Several processes under ``torchrun``: the environment, and gradient and metric averaging over ranks.

Every rank draws the same global batch from the same seeded sampler and keeps
``batch[rank::world]``; gradients of D are averaged by hooks (D is also called, frozen, inside
the G/S step, where DistributedDataParallel would wait for gradients that never come).
"""

from __future__ import annotations

import os

import torch


def distributed_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) without it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def average_gradients_over_ranks(net: torch.nn.Module, world: int) -> None:
    """Register hooks that replace each parameter gradient of `net` by its mean over the ranks."""
    import torch.distributed as dist

    def hook(grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad / world

    for param in net.parameters():
        param.register_hook(hook)


def mean_over_ranks(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Each value averaged over the ranks (all-reduce in float64)."""
    import torch.distributed as dist

    keys = sorted(values)
    tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    tensor /= dist.get_world_size()
    return {k: float(v) for k, v in zip(keys, tensor.cpu())}
