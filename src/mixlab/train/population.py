"""Population training: P compatible proxy runs trained at once as one batched model.

Each member is a full single-run `Trainer` (its own sampler, mixture, seed, code-length
accounts, evaluation and checkpoint), built exactly as `train()` builds it, so it starts from
the same weights. Only the step is shared: the members' weights are stacked into one
`PopulationGPT` (each member's `GPT` becomes a view of its slice), their batches go through
one batched forward and backward, and `PopulationAdamW` applies each member's own learning
rate schedule, weight decay and gradient clipping. Everything else (evaluations, records,
checkpoints, divergence) goes through the single-run code, member by member, so each member
lands in the store as the run `train()` would have written, and its checkpoint can be resumed
by either path. A diverged member is recorded failed and dropped; the others continue.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch

from mixlab.errors import InputError
from mixlab.runs import RunRecord, RunStore
from mixlab.train.checkpoint import load_checkpoint, save_checkpoint
from mixlab.train.config import TrainConfig
from mixlab.train.loop import (
    LN2,
    Setup,
    Trainer,
    TrainingDiverged,
    checkpoint_path,
    record_setup_failure,
    resolve_setup,
    start_record,
)
from mixlab.train.lr_schedule import lr_at
from mixlab.train.population_model import PopulationAdamW, PopulationGPT

# settings a population's members may differ in; every other setting must be equal
VARYING = frozenset({"mixture", "seed", "optimizer", "lr_schedule", "max_epochs", "run_id", "tags"})


def population_key(cfg: TrainConfig) -> str:
    """Runs with equal keys can train as one population (same model, data, batch, budget)."""
    return cfg.model_dump_json(exclude=set(VARYING))


class PopulationBatch:
    """The shared step of members that are at the same step: stacked weights and optimiser."""

    def __init__(self, members: Sequence[Trainer]):
        self.members = list(members)
        first = self.members[0]
        if len({population_key(m.cfg) for m in self.members}) > 1:
            raise ValueError("population members differ in more than mixture, seed and optimiser")
        if len({m.step_no for m in self.members}) > 1:
            raise ValueError("population members must be at the same step")
        if first.setup.world > 1:
            raise ValueError("a population trains in one process (no DistributedDataParallel)")
        self.setup, self.cfg = first.setup, first.cfg
        models = [m.model for m in self.members]
        self.model = PopulationGPT.stack(models)
        self.model.bind(models)
        self.names = [name for name, _ in self.model.named_parameters()]
        o = [m.cfg.optimizer for m in self.members]
        self.optimizer = PopulationAdamW(
            list(self.model.parameters()),
            weight_decay=[x.weight_decay for x in o],
            beta1=[x.beta1 for x in o],
            beta2=[x.beta2 for x in o],
            eps=[x.eps for x in o],
            grad_clip=[x.grad_clip for x in o],
        )
        self._import_optimizer_state()
        self.forward = torch.compile(self.model) if self.setup.compile else self.model
        self.autocast = first.autocast

    @property
    def step_no(self) -> int:
        return self.members[0].step_no

    # -- the step ------------------------------------------------------------------------
    def step(self) -> list[float]:
        """One optimiser step of every member; returns each member's mean training loss."""
        grad_accum = self.cfg.grad_accum
        lrs = [
            lr_at(m.step_no, m.total_steps, m.cfg.optimizer.lr, m.cfg.lr_schedule)
            for m in self.members
        ]
        total = torch.zeros(len(self.members), device=self.setup.device)
        for _ in range(grad_accum):
            batches, domains = zip(*(m._micro_batch() for m in self.members), strict=True)
            batch = torch.stack(batches)
            with self.autocast:
                _, per_token = self.forward(batch[..., :-1], batch[..., 1:], reduction="none")
            loss = per_token.mean(dim=(1, 2))
            (loss.sum() / grad_accum).backward()
            # prequential code, per member: what each batch cost before its model learned from it
            bits = per_token.detach().double().sum(2) / LN2
            for m, dom, b in zip(self.members, domains, bits, strict=True):
                m.code_bits.index_add_(0, dom, b)
            total += loss.detach()
        if any(m.cfg.optimizer.grad_clip for m in self.members):
            self.optimizer.clip_()
        self.optimizer.step(lrs)
        self.optimizer.zero_grad()
        for m in self.members:
            m.step_no += 1
        return (total / grad_accum).tolist()

    # -- optimiser state, member by member (checkpoints in the single-run format) ---------
    def _params(self, member: Trainer) -> list[torch.nn.Parameter]:
        return [member.model.get_parameter(name) for name in self.names]

    def _import_optimizer_state(self) -> None:
        """Take over the members' AdamW state (restored from checkpoints), if they have any."""
        states = [[m.optimizer.state.get(p) for p in self._params(m)] for m in self.members]
        if not any(s for member in states for s in member):
            return
        if not all(s for member in states for s in member):
            raise ValueError("population members differ in having optimiser state")
        steps = {float(s["step"]) for member in states for s in member}
        if len(steps) > 1:
            raise ValueError(f"population members' optimiser steps differ: {sorted(steps)}")
        self.optimizer.step_count = int(steps.pop())
        with torch.no_grad():
            for j in range(len(self.names)):
                for key, into in (
                    ("exp_avg", self.optimizer.exp_avg),
                    ("exp_avg_sq", self.optimizer.exp_avg_sq),
                ):
                    into[j].copy_(torch.stack([member[j][key] for member in states]))

    def export_optimizer_state(self) -> None:
        """Give each member's AdamW its slice of the state, as if it had taken the steps."""
        step = torch.tensor(float(self.optimizer.step_count))
        for i, m in enumerate(self.members):
            if not self.optimizer.step_count:
                break
            for j, p in enumerate(self._params(m)):
                m.optimizer.state[p] = {
                    "step": step.clone(),
                    "exp_avg": self.optimizer.exp_avg[j][i],
                    "exp_avg_sq": self.optimizer.exp_avg_sq[j][i],
                }
            lr = lr_at(max(0, m.step_no - 1), m.total_steps, m.cfg.optimizer.lr, m.cfg.lr_schedule)
            for group in m.optimizer.param_groups:
                group["lr"] = lr

    def member_state(self, member: Trainer) -> dict[str, Any]:
        """The member's checkpoint, exactly the single-run format (own copies, not views)."""
        self.export_optimizer_state()
        return _own_copies(member.state())


def _own_copies(obj: Any) -> Any:
    """Clone tensors that are views of a population's stack (torch.save would write it all)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {k: _own_copies(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_own_copies(v) for v in obj]
    return obj


def train_population(
    cfgs: Sequence[TrainConfig],
    store: RunStore | None = None,
    *,
    resume: bool = True,
    stop_after: int | None = None,
) -> list[RunRecord | None]:
    """Train compatible runs as one population; each is recorded in `store` as its own run.

    Runs already done in the store are not retrained (their records are returned). A run
    that cannot start, or that diverges, is recorded failed and the others continue.
    `resume` continues each run from its checkpoint (members at different steps train as
    separate populations); `stop_after` ends after that many steps, as a crash would.
    """
    cfgs = list(cfgs)
    if len({c.id for c in cfgs}) < len(cfgs):
        raise ValueError("a population's runs must have distinct ids")
    if len({population_key(c) for c in cfgs}) > 1:
        raise ValueError("a population's runs may differ only in " + ", ".join(sorted(VARYING)))
    setup = resolve_setup(cfgs[0])
    done = set(store.ids(status="done")) if store is not None else set()
    members: list[Trainer] = []
    for cfg in cfgs:
        if cfg.id in done:
            continue
        try:
            if cfg.online is not None:  # the batched step has no per-member mixer (yet)
                raise InputError(
                    "online: a run with online mixing trains alone, not in a "
                    "population (--population off)"
                )
            trainer = Trainer(cfg, setup)
            path = checkpoint_path(cfg)
            if resume and path is not None and path.exists():
                trainer.restore(load_checkpoint(path, cfg.fingerprint()))
        except Exception as e:  # noqa: BLE001 - this run fails; the others train on
            if store is not None:
                record_setup_failure(cfg, store, e)
            continue
        members.append(trainer)
    for step in sorted({m.step_no for m in members}):
        _train_group([m for m in members if m.step_no == step], setup, store, stop_after)
    if store is None:
        return [None] * len(cfgs)
    return [store.get(c.id) if c.id in store else None for c in cfgs]


def _train_group(
    members: list[Trainer], setup: Setup, store: RunStore | None, stop_after: int | None
) -> None:
    """Members at one step: the loop of `train()`, with one batched step for all of them."""
    if store is not None:
        for m in members:
            start_record(m.cfg, m, store)
    start = time.perf_counter()

    def evaluate(m: Trainer, train_loss: float | None) -> None:
        evals = m.evaluate(train_loss, m.code_length())
        if evals and store is not None:
            store.add_evaluations(m.cfg.id, evals)

    def finish(m: Trainer, status: str, error: str | None = None) -> None:
        if store is not None:
            store.set_status(
                m.cfg.id,
                status,
                error=error,
                tokens=float(m.tokens_seen),
                wall_time=time.perf_counter() - start,
            )

    live = list(members)  # the members still training
    try:
        batch = PopulationBatch(live)
        if batch.step_no == 0:
            for m in live:
                evaluate(m, None)
        while live and batch.step_no < live[0].total_steps:
            losses = batch.step()
            alive = []
            for m, loss in zip(live, losses, strict=True):
                try:
                    m.check_divergence(loss)
                    alive.append((m, loss))
                except TrainingDiverged as e:
                    finish(m, "failed", f"{type(e).__name__}: {e}")
            if len(alive) < len(live):
                batch.export_optimizer_state()  # the survivors keep their state
                live = [m for m, _ in alive]
                if not live:
                    return
                batch = PopulationBatch(live)
            done = batch.step_no == live[0].total_steps
            for m, loss in alive:
                if m.step_no in m.eval_steps:
                    evaluate(m, loss)
            for m in live:
                path = checkpoint_path(m.cfg)
                if path is not None and m.checkpoint_due(done):
                    save_checkpoint(path, batch.member_state(m))
            if stop_after is not None and batch.step_no >= stop_after and not done:
                return
    except BaseException as e:
        reason = "interrupted" if isinstance(e, KeyboardInterrupt) else f"{type(e).__name__}: {e}"
        for m in live:
            finish(m, "failed", reason)
        raise
    for m in live:
        finish(m, "done")
