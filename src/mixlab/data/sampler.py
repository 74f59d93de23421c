"""The mixture sampler: a deterministic, resumable stream of fixed-length training sequences.

Which domain serves the next sequence is decided by Megatron-style greedy blending: pick the
domain whose count lags its target most (`target(n + 1) - count`, ties to the earlier
domain), so every prefix of the stream matches the schedule as closely as whole sequences
allow. Within a domain, sequence i covers tokens [i*L, i*L + L + 1) of its train tokens; each
epoch visits all of them in a seeded shuffled order.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from mixlab.data.schedule import AnySchedule, StaticSchedule, parse_schedule
from mixlab.errors import InputError

if TYPE_CHECKING:
    from mixlab.data.prepared import PreparedData

STATE_VERSION = 1


class MixtureSampler:
    """Batches of shape (batch_size, seq_len + 1) drawn from domains by a mixture schedule.

    `train` maps domain names (in tie-break order) to their train token arrays.
    `budget_tokens` is needed by schedules defined over the budget (curriculum, linear).
    `max_epochs` caps how often a domain may be repeated (one number or per domain);
    `check` turns a violation into an `InputError` before training starts.
    """

    def __init__(
        self,
        train: Mapping[str, np.ndarray],
        schedule: AnySchedule | Mapping[str, Any],
        seq_len: int,
        batch_size: int = 1,
        seed: int = 0,
        budget_tokens: int | None = None,
        max_epochs: float | Mapping[str, float] | None = None,
        dtype: np.dtype | type = np.int64,
    ) -> None:
        if seq_len < 1 or batch_size < 1:
            raise InputError(f"seq_len ({seq_len}) and batch_size ({batch_size}) must be >= 1")
        self.schedule = parse_schedule(schedule)
        self.domains = list(train)
        unknown = [d for d in self.schedule.domains() if d not in train]
        if unknown:
            raise InputError(
                f"mixture names domain(s) {unknown} that the data does not have "
                f"(available: {self.domains})"
            )
        if self.schedule.needs_budget and not budget_tokens:
            raise InputError(f"a {self.schedule.kind} schedule needs budget_tokens")
        self.tokens = [train[d] for d in self.domains]
        self.seq_len = seq_len
        self.batch_size = batch_size
        self.seed = seed
        self.budget_tokens = budget_tokens
        self.dtype = np.dtype(dtype)
        self.n_sequences = np.array([max(0, (t.size - 1) // seq_len) for t in self.tokens])
        for d in self.schedule.domains():
            if self.n_sequences[self.domains.index(d)] == 0:
                size = self.tokens[self.domains.index(d)].size
                raise InputError(
                    f"domain {d!r}: {size} train tokens, fewer than one sequence of {seq_len + 1}"
                )
        self.max_epochs = self._caps(max_epochs)
        # A static mixture's targets are exactly n * weight; no budget arithmetic needed.
        self._static = (
            np.array([self.schedule.weights.get(d, 0.0) for d in self.domains])
            if isinstance(self.schedule, StaticSchedule)
            else None
        )
        self._keys = [zlib.crc32(d.encode("utf-8")) for d in self.domains]
        self._perms: dict[int, tuple[int, np.ndarray]] = {}
        self.sequences = 0
        self.counts = np.zeros(len(self.domains), dtype=np.int64)
        self.epochs = np.zeros(len(self.domains), dtype=np.int64)
        self.cursors = np.zeros(len(self.domains), dtype=np.int64)
        self.last_domains = np.zeros(0, dtype=np.int64)

    @classmethod
    def from_prepared(
        cls,
        prepared: PreparedData,
        schedule: AnySchedule | Mapping[str, Any],
        seq_len: int,
        **kwargs: Any,
    ) -> MixtureSampler:
        """A sampler over the train shards of a prepared folder."""
        return cls(prepared.train_tokens(), schedule, seq_len, **kwargs)

    def _caps(self, max_epochs: float | Mapping[str, float] | None) -> np.ndarray:
        caps = np.full(len(self.domains), np.inf)
        if max_epochs is None:
            return caps
        if isinstance(max_epochs, Mapping):
            for name, cap in max_epochs.items():
                if name not in self.domains:
                    raise InputError(f"max_epochs names unknown domain {name!r}")
                caps[self.domains.index(name)] = cap
        else:
            caps[:] = max_epochs
        if np.any(caps <= 0):
            raise InputError("max_epochs must be > 0")
        return caps

    def set_schedule(self, schedule: AnySchedule | Mapping[str, Any]) -> None:
        """Follow a new schedule from here on (an online mixer extends its own history).

        The stream stays smooth only if the new schedule's targets agree with the old one's
        up to the sequences already served, as a schedule that keeps the past stages does.
        """
        schedule = parse_schedule(schedule)
        unknown = [d for d in schedule.domains() if d not in self.domains]
        if unknown:
            raise InputError(f"mixture names domain(s) {unknown} that the data does not have")
        if schedule.needs_budget and not self.budget_tokens:
            raise InputError(f"a {schedule.kind} schedule needs budget_tokens")
        self.schedule = schedule
        self._static = (
            np.array([schedule.weights.get(d, 0.0) for d in self.domains])
            if isinstance(schedule, StaticSchedule)
            else None
        )

    # -- the blending ------------------------------------------------------------------

    def targets(self, n: np.ndarray | int) -> np.ndarray:
        """Target cumulative sequence counts per domain after n sequences: shape (len(n), K)."""
        n = np.atleast_1d(np.asarray(n, dtype=np.float64))
        if self._static is not None:
            return n[:, None] * self._static[None, :]
        assert self.budget_tokens is not None
        per_budget = self.budget_tokens / self.seq_len  # sequences in the budget
        return self.schedule.cumulative(n / per_budget, self.domains) * per_budget

    def choose(self, count: int) -> np.ndarray:
        """The domains of the next `count` sequences (advances counts, not cursors)."""
        targets = self.targets(np.arange(self.sequences + 1, self.sequences + count + 1))
        chosen = np.empty(count, dtype=np.int64)
        counts = self.counts
        for i in range(count):
            d = int(np.argmax(targets[i] - counts))
            counts[d] += 1
            chosen[i] = d
        self.sequences += count
        return chosen

    def _order(self, d: int, epoch: int) -> np.ndarray:
        cached = self._perms.get(d)
        if cached is None or cached[0] != epoch:
            rng = np.random.default_rng([self.seed, self._keys[d], epoch])
            cached = (epoch, rng.permutation(int(self.n_sequences[d])))
            self._perms[d] = cached
        return cached[1]

    def _next_start(self, d: int) -> int:
        if self.cursors[d] >= self.n_sequences[d]:
            self.epochs[d] += 1
            self.cursors[d] = 0
        index = int(self._order(d, int(self.epochs[d]))[self.cursors[d]])
        self.cursors[d] += 1
        return index * self.seq_len

    def next_batch(self) -> np.ndarray:
        """The next (batch_size, seq_len + 1) array; `last_domains` says where each row came from."""
        span = self.seq_len + 1
        out = np.empty((self.batch_size, span), dtype=self.dtype)
        chosen = self.choose(self.batch_size)
        for row, d in enumerate(chosen.tolist()):
            start = self._next_start(d)
            out[row] = self.tokens[d][start : start + span]
        self.last_domains = chosen
        return out

    def __iter__(self) -> MixtureSampler:
        return self

    def __next__(self) -> np.ndarray:
        return self.next_batch()

    # -- accounting --------------------------------------------------------------------

    @property
    def tokens_seen(self) -> int:
        return self.sequences * self.seq_len

    def epochs_seen(self) -> dict[str, float]:
        """How many times each domain's train tokens have been served (fractional passes)."""
        return {
            d: float(self.counts[i] / self.n_sequences[i]) if self.n_sequences[i] else 0.0
            for i, d in enumerate(self.domains)
        }

    def check(self, budget_tokens: int | None = None) -> dict[str, float]:
        """Epochs each domain needs for the budget; `InputError` if any exceeds its cap."""
        budget = budget_tokens or self.budget_tokens
        if not budget:
            raise InputError("check needs budget_tokens")
        n_total = math.ceil(budget / self.seq_len)
        needed = np.ceil(self.targets(n_total)[0] - 1e-9).astype(np.int64)
        with np.errstate(divide="ignore", invalid="ignore"):
            epochs = np.where(needed > 0, needed / np.maximum(self.n_sequences, 1), 0.0)
        problems = []
        for i, d in enumerate(self.domains):
            if epochs[i] > self.max_epochs[i] + 1e-12:
                problems.append(
                    f"domain {d!r}: {self.tokens[i].size:,} train tokens available "
                    f"({self.n_sequences[i]:,} sequences of {self.seq_len}); the mixture needs "
                    f"{needed[i]:,} sequences = {epochs[i]:.2f} epochs for a budget of "
                    f"{budget:,} tokens, above the cap of {self.max_epochs[i]:g} epochs (max_epochs)"
                )
        if problems:
            raise InputError("impossible mixture:\n  " + "\n  ".join(problems))
        return {d: float(epochs[i]) for i, d in enumerate(self.domains)}

    # -- resuming ----------------------------------------------------------------------

    def _identity(self) -> dict[str, Any]:
        return {
            "domains": self.domains,
            "seq_len": self.seq_len,
            "seed": self.seed,
            "budget_tokens": self.budget_tokens,
            "schedule": self.schedule.model_dump(mode="json"),
            "n_sequences": self.n_sequences.tolist(),
        }

    def state_dict(self) -> dict[str, Any]:
        """A small JSON-able position in the stream; `load_state_dict` continues from it."""
        return {
            "version": STATE_VERSION,
            **self._identity(),
            "sequences": self.sequences,
            "counts": dict(zip(self.domains, self.counts.tolist(), strict=True)),
            "epochs": dict(zip(self.domains, self.epochs.tolist(), strict=True)),
            "cursors": dict(zip(self.domains, self.cursors.tolist(), strict=True)),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume from `state_dict()`; the data and settings must be the ones it came from."""
        if state.get("version") != STATE_VERSION:
            raise InputError(
                f"sampler state version {state.get('version')!r} is not {STATE_VERSION}"
            )
        for key, value in self._identity().items():
            if state.get(key) != value:
                raise InputError(
                    f"sampler state was saved with {key}={state.get(key)!r}, this sampler has {value!r}"
                )
        self.sequences = int(state["sequences"])
        self.counts = np.array([state["counts"][d] for d in self.domains], dtype=np.int64)
        self.epochs = np.array([state["epochs"][d] for d in self.domains], dtype=np.int64)
        self.cursors = np.array([state["cursors"][d] for d in self.domains], dtype=np.int64)


def validation_sequences(
    tokens: np.ndarray,
    seq_len: int,
    max_sequences: int | None = None,
    name: str = "validation",
    dtype: np.dtype | type = np.int64,
) -> np.ndarray:
    """A fixed set of (n, seq_len + 1) windows, spread evenly over the validation tokens."""
    available = max(0, (tokens.size - 1) // seq_len)
    if available == 0:
        raise InputError(
            f"{name}: {tokens.size} validation tokens, fewer than one sequence of {seq_len + 1}"
        )
    if max_sequences is not None and available > max_sequences:
        picks = np.unique(np.linspace(0, available - 1, max_sequences).round().astype(np.int64))
    else:
        picks = np.arange(available)
    starts = picks * seq_len
    index = starts[:, None] + np.arange(seq_len + 1)[None, :]
    return np.asarray(tokens[index], dtype=dtype)


def validation_batches(
    validation: Mapping[str, np.ndarray],
    seq_len: int,
    batch_size: int,
    max_sequences: int | None = None,
) -> dict[str, list[np.ndarray]]:
    """Per domain, its fixed validation sequences cut into batches (the last may be smaller)."""
    out: dict[str, list[np.ndarray]] = {}
    for name, tokens in validation.items():
        seqs = validation_sequences(tokens, seq_len, max_sequences, name=f"domain {name!r}")
        out[name] = [seqs[i : i + batch_size] for i in range(0, len(seqs), batch_size)]
    return out
