"""Running a plan's runs: a local process pool by default, Ray tasks on a cluster.

Both executors call the same `run_one`. A run is done exactly once: finished runs are
skipped on every re-run of the plan, failed and interrupted ones are retried (from their
checkpoint when the plan keeps checkpoints). Workers die with the sweep process, so a
killed sweep leaves no orphan still training a run that the next sweep starts again.
"""

from __future__ import annotations

import ctypes
import signal
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from mixlab.errors import InputError
from mixlab.runs import RunStore
from mixlab.sweep.population import group_runs, run_group
from mixlab.train.config import TrainConfig
from mixlab.train.runtime import cpu_compile_pays, cuda_device_count


@dataclass
class SweepStatus:
    """Counts for a progress display, and an estimate of the time left."""

    total: int
    skipped: int = 0
    done: int = 0
    failed: int = 0
    running: int = 0
    seconds: list[float] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    workers: int = 1

    @property
    def remaining(self) -> int:
        return self.total - self.skipped - self.done - self.failed

    @property
    def eta_seconds(self) -> float | None:
        if not self.seconds:
            return None
        return sum(self.seconds) / len(self.seconds) * self.remaining / max(1, self.workers)

    def to_dict(self) -> dict:
        return {
            "total": self.total,
            "skipped": self.skipped,
            "done": self.done,
            "failed": self.failed,
            "errors": self.errors,
        }


def pending_runs(configs: Sequence[TrainConfig], store: RunStore) -> list[TrainConfig]:
    """The plan's runs that are not recorded as done (new, failed, or left running)."""
    done = set(store.ids(status="done"))
    return [c for c in configs if c.id not in done]


def run_one(cfg_json: str, store_path: str) -> tuple[str, str, str | None, float]:
    """Train one run into the store; returns (id, status, error, seconds). Never raises."""
    from mixlab.train.loop import train
    from mixlab.train.runtime import start_process

    start_process()  # idempotent; Ray workers get no initialiser

    cfg = TrainConfig.model_validate_json(cfg_json)
    start = time.perf_counter()
    try:
        with RunStore(store_path) as store:
            record = train(cfg, store)
        return cfg.id, record.status, record.error, time.perf_counter() - start
    except Exception as e:  # noqa: BLE001 - recorded in the store by train(); reported here
        return cfg.id, "failed", f"{type(e).__name__}: {e}", time.perf_counter() - start


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker when the sweep process dies (no orphans)."""
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _start_worker(counter, compile_cpu: bool, n_gpus: int) -> None:
    """Sweep worker initialiser: no orphans, its own GPU, the process settings of a trainer."""
    _die_with_parent()
    with counter.get_lock():
        index, counter.value = counter.value, counter.value + 1
    from mixlab.train.runtime import assign_gpu, start_process

    assign_gpu(index, n_gpus)
    start_process(compile_cpu=compile_cpu)


def run_local(
    configs: Sequence[TrainConfig],
    store_path: str | Path,
    workers: int = 1,
    on_update: Callable[[SweepStatus], None] | None = None,
    population: str | int = "off",
) -> SweepStatus:
    """Run the pending runs of `configs` in a pool of `workers` processes.

    `population` ("auto", "off" or a size) trains compatible runs as batched populations.
    """
    with RunStore(store_path) as store:
        todo = pending_runs(configs, store)
    status = SweepStatus(total=len(configs), skipped=len(configs) - len(todo), workers=workers)
    if not todo:
        return status
    ctx = get_context("spawn")
    steps = [c.tokens // (c.batch_size * c.grad_accum * c.seq_len) for c in todo]
    init = (ctx.Value("i", 0), cpu_compile_pays(steps, workers), cuda_device_count())
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_start_worker,
                             initargs=init) as pool:
        futures = {pool.submit(run_group, [c.model_dump_json() for c in group], str(store_path))
                   for group in group_runs(todo, population)}
        status.running = min(workers, len(futures))
        _notify(on_update, status)
        while futures:
            finished, futures = wait(futures, return_when=FIRST_COMPLETED)
            for f in finished:
                for result in f.result():
                    _count(status, *result)
            status.running = min(workers, len(futures))
            _notify(on_update, status)
    return status


def run_ray(
    configs: Sequence[TrainConfig],
    store_path: str | Path,
    address: str | None = None,
    num_cpus: int | None = None,
    cpus_per_run: float = 1.0,
    gpus_per_run: float = 0.0,
    on_update: Callable[[SweepStatus], None] | None = None,
    population: str | int = "off",
) -> SweepStatus:
    """Run the pending runs as Ray tasks (a local Ray instance, or the cluster at `address`).

    `population` as in `run_local`: a population is one task with `gpus_per_run`.

    The store path must be reachable from every node (a shared file system).
    """
    try:
        import ray
    except ImportError as e:  # pragma: no cover - ray is a dependency
        raise InputError("the ray executor needs the `ray` package") from e
    with RunStore(store_path) as store:
        todo = pending_runs(configs, store)
    status = SweepStatus(total=len(configs), skipped=len(configs) - len(todo))
    if not todo:
        return status
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address=address,
            num_cpus=num_cpus if address is None else None,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="ERROR",
        )
    try:
        status.workers = max(1, int(ray.cluster_resources().get("CPU", 1) // cpus_per_run))
        task = ray.remote(num_cpus=cpus_per_run, num_gpus=gpus_per_run)(run_group)
        store_abs = str(Path(store_path).resolve())
        refs = [task.remote([c.model_dump_json() for c in group], store_abs)
                for group in group_runs(todo, population)]
        status.running = min(status.workers, len(refs))
        _notify(on_update, status)
        while refs:
            finished, refs = ray.wait(refs, num_returns=1)
            for result in ray.get(finished[0]):
                _count(status, *result)
            status.running = min(status.workers, len(refs))
            _notify(on_update, status)
    finally:
        if started_here:
            ray.shutdown()
    return status


def _count(status: SweepStatus, run_id: str, result: str, error: str | None, secs: float) -> None:
    if result == "done":
        status.done += 1
        status.seconds.append(secs)
    else:
        status.failed += 1
        status.errors[run_id] = error or "failed"


def _notify(on_update: Callable[[SweepStatus], None] | None, status: SweepStatus) -> None:
    if on_update is not None:
        on_update(status)
