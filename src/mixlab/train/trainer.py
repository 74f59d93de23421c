"""The training step of one run: `Trainer` holds the model, optimiser, data stream and the
running accounts (step, code length), and `Trainer.step` is the whole step on one screen."""

from __future__ import annotations

import math
import os
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from mixlab.data.prepared import load_prepared
from mixlab.data.sampler import MixtureSampler, validation_batches
from mixlab.data.schedule import StaticSchedule, parse_schedule
from mixlab.errors import InputError
from mixlab.runs import Evaluation
from mixlab.train.adamw import AdamW
from mixlab.train.cadence import evaluation_steps
from mixlab.train.checkpoint import rng_state, set_rng_state
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
from mixlab.train.setup import Setup, compile_mode

LN2 = math.log(2)


class TrainingDiverged(RuntimeError):
    """The loss became NaN/inf or blew up: the run is marked failed at this step."""


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
