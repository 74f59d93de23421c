"""A run's record in the store: written as running at the start, as failed when the run
cannot start, and with the schedule an online run really followed at the end."""

from __future__ import annotations

import platform
import socket
from typing import TYPE_CHECKING

import numpy as np
import torch

import mixlab
from mixlab.data.schedule import parse_schedule
from mixlab.runs import RunRecord, RunStore
from mixlab.runs.store import DoneRunError
from mixlab.train.config import TrainConfig
from mixlab.train.online_mixing import history_schedule

if TYPE_CHECKING:
    from mixlab.train.trainer import Trainer


def start_record(
    cfg: TrainConfig, trainer: Trainer, store: RunStore, *, replace_done: bool = True
) -> RunRecord:
    """Write the run's record as running, with the evaluations its checkpoint brought back.

    `replace_done=False` refuses (DoneRunError) to replace a run recorded as done.
    """
    record = _record(cfg, trainer)
    store.put(
        record.model_copy(update={"evaluations": trainer.evaluations}), replace_done=replace_done
    )
    return record


def _record(cfg: TrainConfig, trainer: Trainer) -> RunRecord:
    m = trainer.model_cfg
    mixture = trainer.schedule.model_dump(mode="json")
    weights = average_mixture(trainer.schedule, trainer.sampler.domains)
    return RunRecord(
        id=cfg.id,
        tags=cfg.tags,
        mixture=weights,
        model={**m.model_dump(), "preset": cfg.model.preset},
        n_params=m.n_params(),
        n_params_nonembed=m.n_params_nonembed(),
        tokens=float(trainer.tokens_seen),
        flops=float(m.flops_per_token()) * trainer.total_steps * trainer.global_batch * cfg.seq_len,
        seed=cfg.seed,
        schedule={
            "mixture": mixture,
            "lr": cfg.lr_schedule.model_dump(),
            "optimizer": cfg.optimizer.model_dump(),
            "batch_size": cfg.batch_size,
            "grad_accum": cfg.grad_accum,
            "seq_len": cfg.seq_len,
            "world_size": trainer.setup.world,
            "steps": trainer.total_steps,
            "data": str(cfg.data),
            "fingerprint": cfg.fingerprint(),
        },
        host=socket.gethostname(),
        versions={
            "mixlab": mixlab.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "device": str(trainer.setup.device),
        },
        status="running",
        source="mixlab train",
    )


def online_record(record: RunRecord, trainer: Trainer) -> RunRecord:
    """An online run's record: its realised token shares as the mixture (as for any schedule),
    the sequence of mixtures it sampled by as its schedule, and the online settings."""
    followed = history_schedule(
        trainer.mix_history, trainer.global_batch * trainer.cfg.seq_len, trainer.cfg.tokens
    )
    schedule = {
        **(record.schedule or {}),
        "mixture": followed.model_dump(mode="json"),
        "online": trainer.cfg.online.model_dump(mode="json"),
    }
    return record.model_copy(
        update={"mixture": average_mixture(followed, trainer.sampler.domains), "schedule": schedule}
    )


def average_mixture(schedule, domains: list[str]) -> dict[str, float]:
    """The token shares over the whole budget (a schedule's average mixture)."""
    shares = np.clip(schedule.cumulative(np.array([1.0]), domains)[0], 0, None)
    shares = shares / shares.sum()
    return {d: float(w) for d, w in zip(domains, shares, strict=True) if w > 0}


def failure_record(cfg: TrainConfig, error: str | None) -> RunRecord | None:
    """A failed record of a run that has none to show (it could not start, or its worker died)."""
    try:
        schedule = parse_schedule(cfg.mixture, field="mixture")
    except Exception:  # noqa: BLE001 - without a mixture there is no run record to write
        return None
    return RunRecord(
        id=cfg.id,
        tags=cfg.tags,
        mixture=average_mixture(schedule, schedule.domains()),
        seed=cfg.seed,
        status="failed",
        error=error,
        host=socket.gethostname(),
        source="mixlab train",
        schedule={"mixture": schedule.model_dump(mode="json"), "fingerprint": cfg.fingerprint()},
    )


def record_setup_failure(cfg: TrainConfig, store: RunStore, error: Exception) -> None:
    """Record a run that could not start (impossible mixture, missing data) as failed."""
    record = failure_record(cfg, f"{type(error).__name__}: {error}")
    if record is None:
        return
    try:
        store.put(record, replace_done=False)
    except DoneRunError:  # a done run stays as it is; the setup error is what the caller sees
        pass
