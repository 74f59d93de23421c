"""Where a run trains: device, precision and compilation resolved from 'auto' settings."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from mixlab.train.config import TrainConfig
from mixlab.train.runtime import compile_cpu_by_default


@dataclass
class Setup:
    device: torch.device
    dtype: torch.dtype
    compile: bool
    rank: int = 0
    world: int = 1


def resolve_setup(cfg: TrainConfig) -> Setup:
    """Device, precision and compilation from 'auto' settings; ranks from torchrun's env."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if cfg.device == "auto":
        device = (
            torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            if torch.cuda.is_available()
            else torch.device("cpu")
        )
    else:
        device = torch.device(cfg.device)
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}.get(
        cfg.dtype, torch.bfloat16 if device.type == "cuda" else torch.float32
    )
    # auto: on GPU; on CPU only in a sweep worker of many steps, where the cost is amortised
    use_compile = cfg.compile == "on" or (
        cfg.compile == "auto" and (device.type == "cuda" or compile_cpu_by_default())
    )
    return Setup(device, dtype, use_compile, rank, world)


def compile_mode(cfg: TrainConfig, setup: Setup) -> str:
    """torch.compile's mode: the training step's shapes never change, so on one GPU its
    kernels are replayed as a CUDA graph (small proxies are launch-bound); DDP: default."""
    if cfg.compile_mode != "auto":
        return cfg.compile_mode
    return "reduce-overhead" if setup.device.type == "cuda" and setup.world == 1 else "default"
