"""The training loop of one proxy run, written to the run store as it goes.

`train(config)` builds the data stream, the model and the optimiser, then runs the step in
`Trainer.step` (the whole training step on one screen). A crash or a diverging loss leaves
the run marked failed with its reason and every evaluation made so far.
"""

from __future__ import annotations

import math
import os
import platform
import socket
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

import mixlab
from mixlab.data.prepared import load_prepared
from mixlab.data.sampler import MixtureSampler, validation_batches
from mixlab.data.schedule import StaticSchedule, parse_schedule
from mixlab.errors import InputError
from mixlab.names import check_name
from mixlab.runs import Evaluation, RunRecord, RunStore
from mixlab.runs.store import DoneRunError
from mixlab.train.adamw import AdamW
from mixlab.train.cadence import evaluation_steps
from mixlab.train.checkpoint import (
    CHECKPOINT_NAME,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from mixlab.train.config import TrainConfig
from mixlab.train.evaluate import (
    bits_per_byte,
    bytes_per_token,
    domain_losses,
    load_probes,
    probe_accuracy,
)
from mixlab.train.lr_schedule import lr_at
from mixlab.train.model import GPT
from mixlab.train.online_mixing import MixPoint, ReferenceLosses, build_mixer, history_schedule
from mixlab.train.runtime import compile_cpu_by_default

LN2 = math.log(2)
LOSS_READ_EVERY = 20  # steps between reads of the training loss on a GPU


class TrainingDiverged(RuntimeError):
    """The loss became NaN/inf or blew up: the run is marked failed at this step."""


@dataclass
class Progress:
    """What a progress display needs after each step."""

    step: int
    total_steps: int
    tokens: int
    loss: float
    tokens_per_s: float
    evaluations: dict[str, float] = field(default_factory=dict)


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


class Trainer:
    """One run: model, optimiser, data stream and the running accounts (step, code length)."""

    def __init__(self, cfg: TrainConfig, setup: Setup):
        self.cfg, self.setup = cfg, setup
        self.data = load_prepared(cfg.data)
        self.tokenizer = self.data.tokenizer
        self.schedule = parse_schedule(cfg.mixture, field="mixture")
        self.global_batch = cfg.batch_size * cfg.grad_accum * setup.world
        self.total_steps = max(1, cfg.tokens // (self.global_batch * cfg.seq_len))
        self.sampler = MixtureSampler.from_prepared(
            self.data,
            self.schedule,
            cfg.seq_len,
            batch_size=cfg.batch_size * setup.world,
            seed=cfg.seed,
            budget_tokens=cfg.tokens,
            max_epochs=cfg.max_epochs,
        )
        self.sampler.check(cfg.tokens)  # an impossible mixture fails here
        torch.manual_seed(cfg.seed)
        self.model_cfg = cfg.model.build(self.tokenizer.vocab_size, cfg.seq_len)
        if setup.device.type == "cpu":
            # Tiny matrices: threads cost more than they give, and spin badly on a busy machine.
            small = self.model_cfg.n_params_nonembed() < 2_000_000
            torch.set_num_threads(cfg.cpu_threads or (1 if small else os.cpu_count() or 1))
        self.model = GPT(self.model_cfg).to(setup.device)
        decay = [p for p in self.model.parameters() if p.ndim >= 2]
        no_decay = [p for p in self.model.parameters() if p.ndim < 2]
        o = cfg.optimizer
        groups = [
            {"params": decay, "weight_decay": o.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        if setup.device.type == "cpu":  # the same numbers, without importing torch._dynamo
            self.optimizer = AdamW(groups, lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps)
        else:
            self.optimizer = torch.optim.AdamW(
                groups,
                lr=o.lr,
                betas=(o.beta1, o.beta2),
                eps=o.eps,
                fused=setup.device.type == "cuda",
            )
        self.forward = self.ddp = self.model
        if setup.world > 1:
            self.forward = self.ddp = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[setup.device.index] if setup.device.type == "cuda" else None
            )
        if setup.compile:
            self.forward = torch.compile(self.forward, mode=compile_mode(cfg, setup))
        self.autocast = (
            torch.autocast(setup.device.type, dtype=setup.dtype)
            if setup.dtype != torch.float32
            else nullcontext()
        )
        self.val = validation_batches(
            self.data.validation_tokens(), cfg.seq_len, cfg.eval.batch_size, cfg.eval.max_sequences
        )
        self.bytes_per_token = bytes_per_token(self.tokenizer, self.val)
        self.probes = {
            name: load_probes(path, self.tokenizer, cfg.eval.max_probes)
            for name, path in cfg.eval.probes.items()
        }
        self.step_no = 0
        self.mixer = None  # an online mixer (start_online), None for a fixed schedule
        self.mix_history: list[MixPoint] = []  # the sampled mixtures in force, by step
        self.code_bits = torch.zeros(
            len(self.sampler.domains), dtype=torch.float64, device=setup.device
        )
        self.code_tokens = np.zeros(len(self.sampler.domains), dtype=np.int64)
        self.evaluations: list[Evaluation] = []  # made so far: checkpointed with the state
        self.diverge_at = 2.0 * math.log(self.tokenizer.vocab_size)
        self.pending: list[torch.Tensor] = []  # step losses not yet read (no host sync)
        e = cfg.eval
        self.eval_steps = evaluation_steps(
            self.total_steps,
            self.global_batch * cfg.seq_len,
            every=e.every,
            every_tokens=e.every_tokens,
            points=e.points,
            warmup_steps=int(cfg.lr_schedule.warmup * self.total_steps),
        )

    @property
    def tokens_seen(self) -> int:
        return self.step_no * self.global_batch * self.cfg.seq_len

    def step(self) -> float:
        """One optimiser step; returns its mean training loss (waits for the device)."""
        self.step_async()
        return self.read_losses()[-1]

    def read_losses(self) -> list[float]:
        """The mean losses of the steps since the last read (one host sync for all of them).

        Raises TrainingDiverged, naming the first bad step, if any is NaN/inf or blew up.
        """
        if not self.pending:
            return []
        losses = torch.stack(self.pending).tolist()
        first = self.step_no - len(losses) + 1
        self.pending = []
        for i, mean in enumerate(losses):
            self.check_divergence(mean, first + i)
        return losses

    def step_async(self) -> None:
        """One optimiser step over grad_accum micro-batches; its loss stays on the device."""
        lr = lr_at(self.step_no, self.total_steps, self.cfg.optimizer.lr, self.cfg.lr_schedule)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        total = torch.zeros((), device=self.setup.device)
        for micro in range(self.cfg.grad_accum):
            batch, domains = self._micro_batch()
            x, y = batch[:, :-1], batch[:, 1:]
            sync = micro == self.cfg.grad_accum - 1 or self.setup.world == 1
            with nullcontext() if sync else self.ddp.no_sync(), self.autocast:
                _, per_token = self.forward(x, y, reduction="none")
            loss = per_token.mean()
            (loss / self.cfg.grad_accum).backward()
            # prequential code: what this batch cost before the model learned from it
            self.code_bits.index_add_(0, domains, per_token.detach().double().sum(1) / LN2)
            total += loss.detach()
        if self.cfg.optimizer.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optimizer.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step_no += 1
        if self.setup.world > 1:  # every rank reports (and judges divergence on) the global mean
            dist.all_reduce(total)
        self.pending.append(total / (self.cfg.grad_accum * self.setup.world))

    # -- online mixing -------------------------------------------------------------------
    def start_online(self, reference: ReferenceLosses | None) -> None:
        """Let `cfg.online`'s mixer drive the sampler, starting from the static mixture."""
        if not isinstance(self.schedule, StaticSchedule):
            raise InputError(
                f"online: needs a static mixture to start from, not a "
                f"{self.schedule.kind} schedule (field mixture)"
            )
        prior = {d: self.schedule.weights[d] for d in self.schedule.domains()}
        self.mixer = build_mixer(self.cfg.online, prior, reference)
        self.mix_history = [MixPoint(0, self.mixer.weights())]

    def online_due(self) -> bool:
        return (
            self.mixer is not None
            and self.step_no < self.total_steps
            and self.step_no % self.cfg.online.every_steps == 0
        )

    def update_mixture(self) -> list[Evaluation]:
        """Give the mixer this step's validation losses; sample by its new mixture from here.

        Returns the mixture now in force as `mix_weight/<domain>` evaluations.
        """
        val = {d: self.val[d] for d in self.mixer.domains if d in self.val}
        losses = domain_losses(self.model, val, self.setup.device, self.autocast)
        self.mixer.set_upper(self.online_limits())
        self.mixer.update(self.step_no, losses, tokens=float(self.tokens_seen))
        weights = self.mixer.weights()
        if self.step_no == 0:
            self.mix_history = [MixPoint(0, weights)]
        else:
            self.mix_history.append(MixPoint(self.step_no, weights))
        self._follow_history()
        evals = [
            Evaluation(
                step=self.step_no, tokens=float(self.tokens_seen), metric=f"mix_weight/{d}", value=w
            )
            for d, w in weights.items()
        ]
        self.evaluations.extend(evals)  # checkpointed with the state, as evaluate()'s are
        return evals

    def online_limits(self) -> dict[str, float] | None:
        """The largest weight per domain that the rest of the budget can take without a
        domain passing its max_epochs cap over the whole run (None: no caps)."""
        s = self.sampler
        if np.isinf(s.max_epochs).all():
            return None
        remaining = self.total_steps * self.global_batch - s.sequences
        if remaining <= 0:
            return None
        # one sequence of slack per domain for the sampler's rounding
        room = np.maximum(np.floor(s.max_epochs * s.n_sequences) - s.counts - 1, 0)
        return {d: float(room[s.domains.index(d)] / remaining) for d in self.mixer.domains}

    def _follow_history(self) -> None:
        self.sampler.set_schedule(
            history_schedule(
                self.mix_history, self.global_batch * self.cfg.seq_len, self.cfg.tokens
            )
        )

    def averaged_mixture(self) -> list[Evaluation]:
        """The online mixer's output mixture (weights averaged over its updates)."""
        return [
            Evaluation(
                step=self.step_no,
                tokens=float(self.tokens_seen),
                metric=f"mix_weight_avg/{d}",
                value=w,
            )
            for d, w in self.mixer.averaged_weights().items()
        ]

    def check_divergence(self, mean: float, step: int | None = None) -> None:
        """Raise TrainingDiverged if a step's mean training loss is NaN/inf or blew up."""
        if not math.isfinite(mean) or mean > self.diverge_at:
            step = self.step_no if step is None else step
            raise TrainingDiverged(f"training loss {mean} at step {step}: the run diverged")

    def checkpoint_due(self, done: bool) -> bool:
        every = self.cfg.checkpoint.every
        return done or bool(every and self.step_no % every == 0)

    def _micro_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's rows of the next global micro-batch (the same stream for any world size)."""
        full = self.sampler.next_batch()
        domains = self.sampler.last_domains
        np.add.at(self.code_tokens, domains, self.cfg.seq_len)
        rows = slice(self.setup.rank, None, self.setup.world)
        batch = torch.from_numpy(np.ascontiguousarray(full[rows], dtype=np.int64))
        dom = torch.from_numpy(np.ascontiguousarray(domains[rows], dtype=np.int64))
        if self.setup.device.type == "cuda":  # page-locked, copied while the GPU works
            batch, dom = batch.pin_memory(), dom.pin_memory()
        return (
            batch.to(self.setup.device, non_blocking=True),
            dom.to(self.setup.device, non_blocking=True),
        )

    def evaluate(self, train_loss: float | None, code: np.ndarray) -> list[Evaluation]:
        """Validation loss and bits per byte per domain, probes, code length, at this step."""
        values: dict[str, float] = {}
        for domain, loss in domain_losses(
            self.model, self.val, self.setup.device, self.autocast
        ).items():
            values[f"val_loss/{domain}"] = loss
            values[f"val_bpb/{domain}"] = bits_per_byte(loss, self.bytes_per_token[domain])
        for name, probes in self.probes.items():
            for key, acc in probe_accuracy(
                self.model,
                probes,
                self.tokenizer,
                self.setup.device,
                autocast=self.autocast,
                use_cache=self.cfg.eval.decode_cache,
            ).items():
                values[f"probe/{name}/{key}" if key else f"probe/{name}"] = acc
        values["code_length_bits"] = float(code.sum())
        for i, domain in enumerate(self.sampler.domains):
            if self.code_tokens[i]:
                values[f"code_length_bits/{domain}"] = float(code[i])
                values[f"code_tokens/{domain}"] = float(self.code_tokens[i])
                if domain in self.bytes_per_token:  # bits per raw byte, at the held-out bytes/token
                    values[f"code_bpb/{domain}"] = float(code[i]) / (
                        self.code_tokens[i] * self.bytes_per_token[domain]
                    )
        if train_loss is not None:
            values["train_loss"] = train_loss
        evals = [
            Evaluation(step=self.step_no, tokens=float(self.tokens_seen), metric=k, value=v)
            for k, v in values.items()
            if math.isfinite(v)
        ]
        self.evaluations.extend(evals)  # checkpointed with the state
        return evals

    def code_length(self) -> np.ndarray:
        """Bits spent so far per domain, summed over ranks (a collective: every rank calls it)."""
        bits = self.code_bits.clone()
        if self.setup.world > 1:
            dist.all_reduce(bits)
        return bits.cpu().numpy()

    # -- checkpoints ---------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "fingerprint": self.cfg.fingerprint(),
            "step": self.step_no,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "sampler": self.sampler.state_dict(),
            "code_bits": self.code_bits.cpu(),
            "code_tokens": torch.from_numpy(self.code_tokens.copy()),
            "evaluations": [e.model_dump() for e in self.evaluations],
            "rng": rng_state(),
            **(
                {
                    "mixer": self.mixer.state_dict(),
                    "mix_history": [(m.step, m.weights) for m in self.mix_history],
                }
                if self.mixer is not None
                else {}
            ),
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.mixer is not None:  # the sampler's identity includes the schedule so far
            self.mixer.load_state_dict(state["mixer"])
            self.mix_history = [MixPoint(int(s), dict(w)) for s, w in state["mix_history"]]
            self._follow_history()
        self.sampler.load_state_dict(state["sampler"])
        self.step_no = int(state["step"])
        self.code_bits = state["code_bits"].to(self.setup.device)
        self.code_tokens = state["code_tokens"].numpy().astype(np.int64)
        self.evaluations = [Evaluation(**e) for e in state.get("evaluations", [])]
        set_rng_state(state["rng"])


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
        existing = store.get(cfg.id)
        if existing.status == "done" and not force:
            if (existing.schedule or {}).get("fingerprint") == cfg.fingerprint():
                return existing  # the same run, already finished: nothing to do
            raise InputError(
                f"run id {cfg.id!r} is already done in {store.path} with other settings; "
                "choose another run_id, or pass --force to replace the finished run"
            )
    if setup.world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if setup.device.type == "cuda" else "gloo")
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
        if lead and store is not None:  # a sweep must see this run failed, not missing
            record_setup_failure(cfg, store, e)
        raise
    ckpt_path = checkpoint_path(cfg)
    if resume and ckpt_path is not None and ckpt_path.exists():
        trainer.restore(load_checkpoint(ckpt_path, cfg.fingerprint()))
    record = (
        start_record(cfg, trainer, store, replace_done=force)
        if lead and store is not None
        else None
    )
    start = time.perf_counter()
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

    try:
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
