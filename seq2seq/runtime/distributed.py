"""Data-parallel training with PyTorch's own engine (torch.distributed, launched by torchrun).

`World` is what the trainer needs to know about the other processes: its rank, how many there are,
and three collective operations. A single process is a world of one whose collectives return their
input, so the training loop has one code path.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: str = "cpu"  # where collective tensors live: NCCL needs them on the GPU

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environment(cls, device_type: str) -> World:
        """Join the process group torchrun set up (NCCL on GPUs, gloo on CPU); else a world of one."""
        size = int(os.environ.get("WORLD_SIZE", "1"))
        if size == 1:
            return cls()
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if device_type == "cuda":
            torch.cuda.set_device(local_rank)
        if not dist.is_initialized():
            dist.init_process_group(
                backend="nccl" if device_type == "cuda" else "gloo", timeout=datetime.timedelta(minutes=30)
            )
        device = f"cuda:{local_rank}" if device_type == "cuda" else "cpu"
        return cls(dist.get_rank(), dist.get_world_size(), local_rank, device)

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of a few numbers over all processes."""
        if self.size == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def gather(self, obj: Any) -> list[Any]:
        """Every process's `obj`, in rank order, on every process."""
        if self.size == 1:
            return [obj]
        out: list[Any] = [None] * self.size
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()

    @contextlib.contextmanager
    def first(self):
        """The first process runs the block before the others do (it fills a cache they read)."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()

    def close(self) -> None:
        if self.size > 1 and dist.is_initialized():
            dist.destroy_process_group()
