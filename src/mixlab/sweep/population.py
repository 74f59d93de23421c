"""Grouping a sweep's runs into populations (`mixlab sweep run --population auto|N|off`).

Runs that differ only in mixture, seed and optimiser settings (same model, data, sequence
length, batch, budget) train as one batched population (`mixlab.train.population`). `auto`
uses populations only where they should pay: on a GPU, where one small proxy cannot fill the
chip; not on CPU, where a population of 4 or 8 measured 0.78x to 1.08x the tokens/s of the
same runs one after another (docs/benchmarks.md, "Population training").
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from mixlab.errors import InputError
from mixlab.train.config import TrainConfig
from mixlab.train.population import population_key

MAX_POPULATION = 128
# auto on a GPU: a population's weights stay under about one GPT-2 small's worth
AUTO_PARAMS = 128_000_000
# ... and its training activations (logits dominate) under this many bytes
AUTO_ACTIVATION_BYTES = 24 * 2**30


def parse_population(value: str | int) -> str | int:
    """'auto', 'off' or a size >= 1 (from the command line)."""
    text = str(value).strip().lower()
    if text in ("auto", "off"):
        return text
    try:
        size = int(text)
    except ValueError:
        raise InputError(f"--population must be auto, off or a size, not {value!r}") from None
    if size < 1:
        raise InputError(f"--population must be >= 1, not {size}")
    return size


def _uses_gpu(cfg: TrainConfig) -> bool:
    if cfg.device == "auto":
        import torch

        return torch.cuda.is_available()
    return cfg.device.startswith("cuda")


def auto_size(cfg: TrainConfig) -> int:
    """The population size `auto` picks for runs like `cfg` (1: train them one by one).

    CPU: 1 (measured slower than one by one). GPU: as many as keep the stacked weights under
    AUTO_PARAMS and the logits of a micro-batch under AUTO_ACTIVATION_BYTES, at most 128.
    """
    if not _uses_gpu(cfg):
        return 1
    model = cfg.model.build(_vocab_size(cfg), cfg.seq_len)
    by_params = AUTO_PARAMS // max(1, model.n_params())
    # bf16 logits, their float32 copy for the loss and the gradients of both: ~12 bytes each
    logits = cfg.batch_size * cfg.seq_len * model.vocab_size * 12
    by_memory = AUTO_ACTIVATION_BYTES // max(1, logits)
    return int(max(1, min(MAX_POPULATION, by_params, by_memory)))


def group_runs(configs: Sequence[TrainConfig], population: str | int) -> list[list[TrainConfig]]:
    """The runs in groups to train together, in plan order (a group of one trains alone)."""
    population = parse_population(population)
    if population == "off" or population == 1:
        return [[c] for c in configs]
    online = [c for c in configs if c.online is not None]
    if online and population != "auto":
        raise InputError(
            f"--population {population}: run {online[0].id} mixes online "
            f"({online[0].online.method}); a population shares one batched step and one data "
            "stream, so per-member online weights would need a validation pass and a sampler "
            "per member at every update: use --population auto (online runs then train "
            "alone) or off"
        )
    by_key: dict[str, list[TrainConfig]] = {}
    alone: list[list[TrainConfig]] = [[c] for c in online]  # auto: online runs train alone
    for c in configs:
        if c.online is None:
            by_key.setdefault(population_key(c), []).append(c)
    groups = alone
    for runs in by_key.values():
        size = auto_size(runs[0]) if population == "auto" else population
        groups.extend(runs[i : i + size] for i in range(0, len(runs), size))
    groups.sort(key=lambda g: configs.index(g[0]))
    return groups


def _vocab_size(cfg: TrainConfig) -> int:
    try:
        from mixlab.data.prepared import load_prepared

        return load_prepared(cfg.data).tokenizer.vocab_size
    except Exception:  # noqa: BLE001 - the run itself will report missing data
        return 50_304


def run_group(cfg_jsons: list[str]) -> list[tuple[str, str | None, str, str | None, float]]:
    """Train a group (alone, or as one population) in this worker, into memory.

    One (id, record JSON or None, status, error, seconds) per run, for the sweep's driver,
    which alone writes the store. Never raises.
    """
    import os

    from mixlab.runs.memory import MemoryStore
    from mixlab.sweep.execute import run_one
    from mixlab.train.population import train_population
    from mixlab.train.runtime import start_process

    if len(cfg_jsons) == 1:
        return [run_one(cfg_jsons[0])]
    start_process()  # idempotent, as in run_one (Ray workers get no initialiser)
    cfgs = [TrainConfig.model_validate_json(c) for c in cfg_jsons]
    sink = MemoryStore(f"<population worker {os.getpid()}>")
    start = time.perf_counter()
    try:
        train_population(cfgs, sink)
        error = None
    except Exception as e:  # noqa: BLE001 - each member not recorded otherwise is failed
        error = f"{type(e).__name__}: {e}"
    secs = (time.perf_counter() - start) / len(cfgs)  # each run's share (the sweep's ETA)
    results = []
    for c in cfgs:
        record = sink.get(c.id) if c.id in sink else None
        if record is None:
            results.append((c.id, None, "failed", error or "not recorded", secs))
        else:
            status = record.status if error is None or record.status != "running" else "failed"
            reason = record.error if status == record.status else error
            if status != record.status:
                record = record.model_copy(update={"status": status, "error": reason})
            results.append((c.id, record.model_dump_json(), status, reason, secs))
    return results
