"""DDP helpers. A single process needs no launcher and no environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def gather(self, local: torch.Tensor, total: int) -> torch.Tensor:
        """Rows embedded on every rank, reassembled in order (``Shards`` of inference)."""
        return gather_rows(local, self, total)

    def sync(self, module: torch.nn.Module) -> None:
        sync_buffers(module, self)


def init_distributed() -> DistInfo:
    """Join the process group when launched by torchrun (gloo on CPU, NCCL on GPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local)
        dist.init_process_group(backend)
    return DistInfo(rank, world, local)


def gather_rows(tensor: torch.Tensor, info: DistInfo, total: int) -> torch.Tensor:
    """Reassemble rows sharded as ``rows[rank::world]`` on every rank into their order."""
    if not info.enabled:
        return tensor
    sizes = [len(range(r, total, info.world_size)) for r in range(info.world_size)]
    padded = tensor.new_zeros(max(sizes), *tensor.shape[1:])
    padded[: len(tensor)] = tensor
    parts = [torch.zeros_like(padded) for _ in range(info.world_size)]
    dist.all_gather(parts, padded)
    out = tensor.new_empty(total, *tensor.shape[1:])
    for r, (part, n) in enumerate(zip(parts, sizes, strict=True)):
        out[r :: info.world_size] = part[:n]
    return out


def sync_buffers(module: torch.nn.Module, info: DistInfo) -> None:
    """Copy rank 0's buffers (BN running statistics) to every rank before evaluation:
    each rank's last training forward updated its own copy."""
    if info.enabled:
        for buf in module.buffers():
            dist.broadcast(buf, src=0)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
