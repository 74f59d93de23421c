"""The training loop of one proxy run, written to the run store as it goes.

`train(config)` builds the data stream, the model and the optimiser, then runs the step in
`Trainer.step` (the whole training step on one screen, in train/trainer.py). A crash or a
diverging loss leaves the run marked failed with its reason and every evaluation made so far.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch.distributed as dist

from mixlab.errors import InputError
from mixlab.names import check_name
from mixlab.runs import Evaluation, RunRecord, RunStore
from mixlab.train.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from mixlab.train.config import TrainConfig
from mixlab.train.online_mixing import ReferenceLosses
from mixlab.train.record import (  # noqa: F401 - re-exported: callers import them from here
    average_mixture,
    failure_record,
    online_record,
    record_setup_failure,
    start_record,
)
from mixlab.train.setup import Setup, compile_mode, resolve_setup  # noqa: F401 - re-exported
from mixlab.train.trainer import LN2, Trainer, TrainingDiverged  # noqa: F401 - re-exported

LOSS_READ_EVERY = 20  # steps between reads of the training loss on a GPU


@dataclass
class Progress:
    """What a progress display needs after each step."""

    step: int
    total_steps: int
    tokens: int
    loss: float
    tokens_per_s: float
    evaluations: dict[str, float] = field(default_factory=dict)


def train(
    cfg: TrainConfig,
    store: RunStore | None = None,
    *,
    resume: bool = True,
    stop_after: int | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    force: bool = False,
) -> RunRecord | None:
    """Train one proxy run and record it in `store` (on rank 0). Returns the record there.

    `resume` continues from the run's checkpoint when there is one; `stop_after` ends the
    process after that many steps (as a crash would), for tests of resuming. A run already
    done in the store is returned as it is when its settings are the same, and is refused
    (InputError) when they differ, unless `force`; a failure never replaces a done run.
    """
    check_name(cfg.id, "run_id")
    setup = resolve_setup(cfg)
    lead = setup.rank == 0
    if lead and store is not None and cfg.id in store:
        existing = _finished_run(cfg, store, force)
        if existing is not None:
            return existing  # the same run, already finished: nothing to do
    if setup.world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if setup.device.type == "cuda" else "gloo")
    trainer = _start_trainer(cfg, setup, store, lead)
    ckpt_path = checkpoint_path(cfg)
    if resume and ckpt_path is not None and ckpt_path.exists():
        trainer.restore(load_checkpoint(ckpt_path, cfg.fingerprint()))
    record = (
        start_record(cfg, trainer, store, replace_done=force)
        if lead and store is not None
        else None
    )
    start = time.perf_counter()
    try:
        if _run_steps(trainer, store, lead, ckpt_path, start, stop_after, on_progress):
            return store.get(cfg.id) if record is not None else None
    except BaseException as e:
        if record is not None:
            reason = (
                "interrupted" if isinstance(e, KeyboardInterrupt) else f"{type(e).__name__}: {e}"
            )
            store.set_status(
                cfg.id,
                "failed",
                error=reason,
                tokens=float(trainer.tokens_seen),
                wall_time=time.perf_counter() - start,
            )
        raise
    if record is None:
        return None
    if trainer.mixer is not None:  # the record shows the schedule the run really followed
        store.add_evaluations(cfg.id, trainer.averaged_mixture())
        store.put(online_record(store.get(cfg.id), trainer))
    store.set_status(
        cfg.id, "done", tokens=float(trainer.tokens_seen), wall_time=time.perf_counter() - start
    )
    return store.get(cfg.id)


def _finished_run(cfg: TrainConfig, store: RunStore, force: bool) -> RunRecord | None:
    """The store's record of this run when it is done with the same settings (None: train).

    A run done with other settings is refused (InputError) unless `force`.
    """
    existing = store.get(cfg.id)
    if existing.status != "done" or force:
        return None
    if (existing.schedule or {}).get("fingerprint") == cfg.fingerprint():
        return existing
    raise InputError(
        f"run id {cfg.id!r} is already done in {store.path} with other settings; "
        "choose another run_id, or pass --force to replace the finished run"
    )


def _start_trainer(cfg: TrainConfig, setup: Setup, store: RunStore | None, lead: bool) -> Trainer:
    """The run's Trainer, online mixing started; a run that cannot start is recorded failed
    in `store` by the lead rank, for a sweep must see it failed, not missing."""
    try:
        trainer = Trainer(cfg, setup)
        if cfg.online is not None:
            reference = (
                reference_losses(cfg, store, trainer.schedule.domains())
                if cfg.online.method == "doremi"
                else None
            )
            trainer.start_online(reference)
    except Exception as e:
        if lead and store is not None:
            record_setup_failure(cfg, store, e)
        raise
    return trainer


def _run_steps(
    trainer: Trainer,
    store: RunStore | None,
    lead: bool,
    ckpt_path: Path | None,
    start: float,
    stop_after: int | None,
    on_progress: Callable[[Progress], None] | None,
) -> bool:
    """Step to the end of the budget, evaluating, re-mixing, checkpointing and reporting on
    their steps. Returns True when `stop_after` ended it early."""
    cfg = trainer.cfg
    start_tokens = trainer.tokens_seen

    def evaluate(train_loss: float | None) -> list[Evaluation]:
        code = trainer.code_length()
        evals = trainer.evaluate(train_loss, code) if lead else []
        if evals and store is not None:
            store.add_evaluations(cfg.id, evals)
        return evals

    def update_mixture() -> None:
        evals = trainer.update_mixture()
        if lead and store is not None:
            store.add_evaluations(cfg.id, evals)

    if trainer.step_no == 0:
        evaluate(None)
        if trainer.online_due():
            update_mixture()
    # on GPU the losses are read (a host sync) only to evaluate, checkpoint or report
    sync_every = 1 if trainer.setup.device.type == "cpu" else LOSS_READ_EVERY
    while trainer.step_no < trainer.total_steps:
        trainer.step_async()
        done = trainer.step_no == trainer.total_steps
        at_eval = trainer.step_no in trainer.eval_steps
        at_ckpt = ckpt_path is not None and trainer.checkpoint_due(done)
        if trainer.online_due():  # before a checkpoint, which then holds the update
            update_mixture()
        if at_eval or at_ckpt or trainer.step_no % sync_every == 0:  # same steps on all ranks
            loss = trainer.read_losses()[-1]  # raises on divergence, before any checkpoint
            evals = evaluate(loss) if at_eval else []
            if at_ckpt and lead:
                save_checkpoint(ckpt_path, trainer.state())
            if on_progress is not None and lead:
                elapsed = max(time.perf_counter() - start, 1e-9)
                on_progress(
                    Progress(
                        trainer.step_no,
                        trainer.total_steps,
                        trainer.tokens_seen,
                        loss,
                        (trainer.tokens_seen - start_tokens) / elapsed,
                        {e.metric: e.value for e in evals},
                    )
                )
        if stop_after is not None and trainer.step_no >= stop_after and not done:
            return True
    return False


def reference_losses(
    cfg: TrainConfig, store: RunStore | None, domains: list[str]
) -> ReferenceLosses:
    """DoReMi's reference: numbers from the config, or a finished run's validation curves."""
    online = cfg.online
    if online.reference_curves is not None:  # handed over by a sweep's driver
        return ReferenceLosses.from_dict(online.reference_curves, domains)
    if online.reference_losses is not None:
        missing = [d for d in domains if d not in online.reference_losses]
        if missing:
            raise InputError(f"online.reference_losses: no loss for domain(s) {missing}")
        return ReferenceLosses(online.reference_losses)
    if store is None or online.reference_run not in store:
        raise InputError(f"online.reference_run: no run {online.reference_run!r} in the store")
    record = store.get(online.reference_run)
    if record.status != "done":
        raise InputError(
            f"online.reference_run: run {online.reference_run!r} is {record.status}, not done"
        )
    return ReferenceLosses.from_record(record, domains)


def checkpoint_path(cfg: TrainConfig) -> Path | None:
    """Where the run's checkpoint lives (None: the run keeps no checkpoints)."""
    return cfg.checkpoint.dir / cfg.id / CHECKPOINT_NAME if cfg.checkpoint.dir else None
