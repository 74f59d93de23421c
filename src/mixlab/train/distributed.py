"""Several processes for one proxy run: DistributedDataParallel, as under `torchrun`.

Each rank reads the same global batch from the sampler and trains on its rows, so N
processes give the same run as one process with the same global batch. `spawn_local` starts
N ranks on this machine (gloo on CPU, NCCL on GPUs); on a cluster use `torchrun`.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
from pathlib import Path

import torch.distributed as dist

from mixlab.runs import RunStore
from mixlab.train.config import TrainConfig


def spawn_local(cfg: TrainConfig, world: int, store_path: str | Path | None) -> None:
    """Train `cfg` with `world` local processes; rank 0 records the run in the store."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    store = None if store_path is None else str(store_path)
    procs = [
        ctx.Process(target=_rank_main, args=(r, world, port, cfg.model_dump_json(), store))
        for r in range(world)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    failed = [r for r, p in enumerate(procs) if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"distributed training failed on rank(s) {failed}")


def _rank_main(rank: int, world: int, port: int, cfg_json: str, store_path: str | None) -> None:
    os.environ.update(
        WORLD_SIZE=str(world),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    from mixlab.train.loop import train

    cfg = TrainConfig.model_validate_json(cfg_json)
    if rank == 0 and store_path is not None:
        with RunStore(store_path) as store:
            train(cfg, store)
    else:
        train(cfg, None)
    dist.barrier()  # rank 0 may still be evaluating: leave the group together
    dist.destroy_process_group()
