"""Running a plan's runs: a local pool of worker processes by default, Ray tasks on a cluster.

Both executors call the same `run_one` in their workers and share one driver loop:

- The driver (the `sweep run` process) is the only process that writes the store. A worker
  trains into memory and sends the finished (or failed) record back; it may not open the store
  at all ($MIXLAB_NO_STORE), because SQLite's locks are not safe across machines.
- A run is claimed in the store before it starts: a lease with the driver's host and pid,
  renewed while the run trains. Several sweep processes (on one machine or several) can share
  a plan: each trains the runs it claims, waits for the ones others hold, and takes over a
  lease whose owner died (same host, pid gone) or stopped renewing it (expired).
- A run is done exactly once: finished runs are skipped on every re-run of the plan, failed
  and interrupted ones are retried (from their checkpoint when the plan keeps checkpoints).
- A worker that dies (killed, out of memory) fails its own run; the sweep goes on.
Workers die with the sweep process, so a killed sweep leaves no orphan still training a run
that the next sweep starts again.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from mixlab.errors import InputError
from mixlab.runs import RunRecord, RunStore
from mixlab.runs.store import DoneRunError
from mixlab.sweep.backends import Backend, LocalBackend, RayBackend, Result, check_ray_address
from mixlab.sweep.population import group_runs
from mixlab.train.config import TrainConfig

LEASE_TTL_S = 300.0  # a lease not renewed for this long is stale (its driver is gone)
HEARTBEAT_S = 15.0  # how often the driver renews its leases
HELD_POLL_S = 2.0  # how often to look again at runs another sweep process holds


@dataclass
class SweepStatus:
    """Counts for a progress display, and an estimate of the time left."""

    total: int
    skipped: int = 0
    done: int = 0
    failed: int = 0
    running: int = 0
    elsewhere: int = 0  # finished by another sweep process while this one ran
    seconds: list[float] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    workers: int = 1

    @property
    def remaining(self) -> int:
        return self.total - self.skipped - self.done - self.failed - self.elsewhere

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
            "elsewhere": self.elsewhere,
            "failed": self.failed,
            "errors": self.errors,
        }


def pending_runs(configs: Sequence[TrainConfig], store: RunStore) -> list[TrainConfig]:
    """The plan's runs that are not recorded as done (new, failed, or left running)."""
    done = set(store.ids(status="done"))
    return [c for c in configs if c.id not in done]


def run_one(cfg_json: str) -> Result:
    """Train one run in this worker, into memory; never raises, never opens the store.

    Returns (id, the run's record as JSON or None, status, error, seconds) for the driver.
    """
    from mixlab.runs.memory import MemoryStore
    from mixlab.train.loop import train
    from mixlab.train.runtime import start_process

    start_process()  # idempotent; Ray workers get no initialiser
    cfg = TrainConfig.model_validate_json(cfg_json)
    sink = MemoryStore(f"<worker {socket.gethostname()}:{os.getpid()}>")
    start = time.perf_counter()
    status, error = "done", None
    try:
        record = train(cfg, sink)
        status, error = record.status, record.error
    except Exception as e:  # noqa: BLE001 - a failed run is a result, not a crash
        status, error = "failed", f"{type(e).__name__}: {e}"
        record = sink.get(cfg.id) if cfg.id in sink else None
    payload = None if record is None else record.model_dump_json()
    return cfg.id, payload, status, error, time.perf_counter() - start


# -- the driver ----------------------------------------------------------------------------
def _drive(
    configs: Sequence[TrainConfig],
    store_path: str | Path,
    backend: Backend,
    status: SweepStatus,
    on_update: Callable[[SweepStatus], None] | None,
    population: str | int = "off",
) -> SweepStatus:
    """Claim, submit, collect and record runs until every run of the plan is settled.

    Runs go out in groups (`population`: compatible runs trained as one batched model); a
    group is submitted with the members this process could claim.
    """
    with RunStore(store_path) as store:
        todo = pending_runs(configs, store)
        status.skipped = len(configs) - len(todo)
        backend.start(todo)
        pending = deque(group_runs(todo, population))
        held: list[list[TrainConfig]] = []
        waiting: list[list[TrainConfig]] = []  # runs whose DoReMi reference is not done yet
        was_held: set[str] = set()
        started = store.now()
        mine: dict[str, TrainConfig] = {}
        last_beat = time.monotonic()
        try:
            while pending or held or mine or waiting:
                while pending and backend.busy < backend.capacity:
                    group = pending.popleft()
                    planned = {c.id for g in (*pending, *held) for c in g} | set(mine)
                    ready = [with_reference(c, store, planned) for c in group]
                    if None in ready:  # a DoReMi reference still to train in this sweep
                        waiting.append(group)
                        continue
                    claimed = []
                    for cfg in ready:
                        claim = store.claim(cfg.id, LEASE_TTL_S)
                        failed_there = cfg.id in was_held and store.failed_since(cfg.id, started)
                        if claim == "claimed" and failed_there:
                            # another sweep process tried it during this sweep: no second try
                            store.release([cfg.id])
                            status.failed += 1
                            status.errors[cfg.id] = (
                                f"failed in another sweep process: {failed_there}"
                            )
                        elif claim == "claimed":
                            claimed.append(cfg)
                        elif claim == "held":
                            held.append([cfg])
                            was_held.add(cfg.id)
                        else:  # finished by another sweep process meanwhile
                            status.elsewhere += 1
                    if claimed:
                        for cfg in claimed:
                            mine[cfg.id] = cfg
                            _mark_running(store, cfg)
                        backend.submit(claimed)
                status.running = len(mine)
                _notify(on_update, status)
                timeout = HELD_POLL_S if held else HEARTBEAT_S
                if mine:
                    for result in backend.wait(timeout):
                        _settle(store, mine.pop(result[0]), result, status)
                else:
                    time.sleep(timeout)
                if time.monotonic() - last_beat >= HEARTBEAT_S:
                    store.renew(mine, LEASE_TTL_S)
                    last_beat = time.monotonic()
                pending.extend(held)  # look again: done elsewhere, or their owner died
                held.clear()
                pending.extend(waiting)
                waiting.clear()
        finally:
            backend.close()
            _abandon(store, list(mine))
    status.running = 0
    _notify(on_update, status)
    return status


def with_reference(cfg: TrainConfig, store: RunStore, planned: set[str]) -> TrainConfig | None:
    """A DoReMi run's config carrying its reference run's curves (a worker cannot open the
    store); None while the reference is still to train in this sweep. A reference neither
    done nor planned leaves the config as it is: the run then fails, naming it."""
    online = cfg.online
    if online is None or online.reference_run is None or online.reference_curves is not None:
        return cfg
    ref = online.reference_run
    if ref in store and store.get(ref).status == "done":
        from mixlab.data.schedule import parse_schedule
        from mixlab.train.online_mixing import ReferenceLosses

        domains = parse_schedule(cfg.mixture).domains()
        try:
            curves = ReferenceLosses.from_record(store.get(ref), domains).to_dict()
        except InputError:
            return cfg  # the run reports what the reference lacks
        return cfg.model_copy(
            update={"online": online.model_copy(update={"reference_curves": curves})}
        )
    return None if ref in planned else cfg


def _mark_running(store: RunStore, cfg: TrainConfig) -> None:
    """Show a claimed run as running (`runs list`) until its worker's record comes back."""
    from mixlab.train.loop import failure_record

    if cfg.id in store:
        store.set_status(cfg.id, "running", error=None)
    elif (record := failure_record(cfg, None)) is not None:
        store.put(record.model_copy(update={"status": "running"}), replace_done=False)


def _abandon(store: RunStore, run_ids: list[str]) -> None:
    """The sweep stops with these runs unfinished: mark them failed (retried next time)."""
    try:
        for run_id in run_ids:
            if run_id in store and store.get(run_id).status == "running":
                store.set_status(run_id, "failed", error="interrupted: the sweep stopped")
        store.release(run_ids)
    except Exception:  # noqa: BLE001 - the error that stopped the sweep is the one to report
        pass


def _settle(store: RunStore, cfg: TrainConfig, result: Result, status: SweepStatus) -> None:
    """Write a worker's result to the store (the driver's job) and give up the lease."""
    from mixlab.train.loop import failure_record

    run_id, payload, outcome, error, secs = result
    record = RunRecord.model_validate_json(payload) if payload is not None else None
    try:
        if record is not None:
            store.put(record, replace_done=False)
        elif run_id in store:  # the worker died: keep what an earlier attempt recorded
            if store.get(run_id).status != "done":
                store.set_status(run_id, "failed", error=error or "failed")
        elif (record := failure_record(cfg, error or "failed")) is not None:
            store.put(record, replace_done=False)
    except DoneRunError:  # already done (never replaced): count it as done elsewhere
        status.elsewhere += 1
        store.release([run_id])
        return
    store.release([run_id])
    if outcome == "done":
        status.done += 1
        status.seconds.append(secs)
    else:
        status.failed += 1
        status.errors[run_id] = error or "failed"


def run_local(
    configs: Sequence[TrainConfig],
    store_path: str | Path,
    workers: int = 1,
    on_update: Callable[[SweepStatus], None] | None = None,
    population: str | int = "off",
) -> SweepStatus:
    """Run the pending runs of `configs` in `workers` local processes.

    `population` ("auto", "off" or a size) trains compatible runs as batched populations.
    """
    status = SweepStatus(total=len(configs), workers=workers)
    with _sigterm_interrupts():
        return _drive(configs, store_path, LocalBackend(workers), status, on_update, population)


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

    The store stays on the driver's machine: results come back to this process, which alone
    writes the store. Checkpoints go to the plan's `checkpoint.dir`, which must be shared
    storage every node can reach for a run to resume on another node.
    """
    try:
        import ray
    except ImportError as e:  # pragma: no cover - ray is a dependency
        raise InputError("the ray executor needs the `ray` package") from e
    status = SweepStatus(total=len(configs))
    with RunStore(store_path) as store:
        if not pending_runs(configs, store):
            status.skipped = len(configs)
            return status
    with _sigterm_interrupts():
        started_here = not ray.is_initialized()
        if started_here:
            check_ray_address(address)
            ray.init(
                address=address,
                num_cpus=num_cpus if address is None else None,
                include_dashboard=False,
                log_to_driver=False,
                logging_level="ERROR",
            )
        try:
            backend = RayBackend(ray, cpus_per_run, gpus_per_run, started_here)
        except BaseException:
            if started_here:
                ray.shutdown()
            raise
        status.workers = backend.capacity
        return _drive(configs, store_path, backend, status, on_update, population)


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C while a sweep runs, so workers and leases are cleaned up."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _notify(on_update: Callable[[SweepStatus], None] | None, status: SweepStatus) -> None:
    if on_update is not None:
        on_update(status)
