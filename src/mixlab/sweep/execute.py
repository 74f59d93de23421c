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

import ctypes
import os
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context
from multiprocessing.connection import wait as wait_ready
from pathlib import Path

from mixlab.errors import InputError
from mixlab.runs import RunRecord, RunStore
from mixlab.runs.store import NO_STORE_ENV, DoneRunError
from mixlab.sweep.population import group_runs, run_group
from mixlab.train.config import TrainConfig
from mixlab.train.runtime import cpu_compile_pays, cuda_device_count

LEASE_TTL_S = 300.0  # a lease not renewed for this long is stale (its driver is gone)
HEARTBEAT_S = 15.0  # how often the driver renews its leases
HELD_POLL_S = 2.0  # how often to look again at runs another sweep process holds
RAY_CONNECT_TRIES = 4  # attempts to reach --ray-address, one second apart

Result = tuple[str, str | None, str, str | None, float]  # id, record JSON, status, error, secs


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


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker when the sweep process dies (no orphans)."""
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


# -- the driver ----------------------------------------------------------------------------
def _drive(
    configs: Sequence[TrainConfig],
    store_path: str | Path,
    backend: _Backend,
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


class _Backend:
    """Where runs train: `submit` starts one, `wait` returns the results that came back."""

    capacity: int = 1

    @property
    def busy(self) -> int:
        """Groups in flight."""
        raise NotImplementedError

    def start(self, todo: Sequence[TrainConfig]) -> None:
        """Called once with the runs left to train, before the first `submit`."""

    def submit(self, group: list[TrainConfig]) -> None:
        raise NotImplementedError

    def wait(self, timeout: float) -> list[Result]:
        raise NotImplementedError

    def close(self) -> None:
        pass


# -- local: one long-lived worker process per slot -----------------------------------------
def _worker_main(conn, index: int, compile_cpu: bool, n_gpus: int) -> None:
    """A local worker: train the groups the driver sends, send their results back.

    It dies with the sweep (no orphans), takes its own GPU, and starts as a trainer does.
    """
    _die_with_parent()
    os.environ[NO_STORE_ENV] = "1"
    from mixlab.train.runtime import assign_gpu, start_process

    assign_gpu(index, n_gpus)
    start_process(compile_cpu=compile_cpu)
    try:
        while True:
            try:
                message = conn.recv()
            except EOFError:
                return
            if message is None:
                return
            conn.send(run_group(message))
    except KeyboardInterrupt:
        return


class _Slot:
    def __init__(self, ctx, index: int, compile_cpu: bool, n_gpus: int):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=_worker_main,
            args=(child, index, compile_cpu, n_gpus),
            name="mixlab-sweep-worker",
        )
        self.proc.start()
        child.close()
        self.run_ids: list[str] | None = None  # the group it is training

    @property
    def run_id(self) -> str | None:
        return self.run_ids[0] if self.run_ids else None

    def stop(self, grace: float) -> None:
        """End the worker: an idle one is asked to exit, a busy one (its run abandoned by an
        interrupted sweep, to be resumed by the next) is killed at once."""
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.proc.join(grace if self.run_ids is None else 0)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


class _LocalBackend(_Backend):
    """`workers` processes; a worker that dies fails its run and is replaced."""

    def __init__(self, workers: int):
        self.capacity = workers
        self._ctx = get_context("spawn")
        self._slots: list[_Slot] = []
        self._started = 0  # workers started so far (each new one takes the next GPU)
        self._compile_cpu, self._n_gpus = False, 0

    @property
    def busy(self) -> int:
        return sum(s.run_ids is not None for s in self._slots)

    def start(self, todo: Sequence[TrainConfig]) -> None:
        steps = [c.tokens // (c.batch_size * c.grad_accum * c.seq_len) for c in todo]
        self._compile_cpu = cpu_compile_pays(steps, self.capacity)
        self._n_gpus = cuda_device_count()

    def submit(self, group: list[TrainConfig]) -> None:
        slot = next((s for s in self._slots if s.run_ids is None), None)
        if slot is None:
            slot = _Slot(self._ctx, self._started, self._compile_cpu, self._n_gpus)
            self._started += 1
            self._slots.append(slot)
        slot.run_ids = [c.id for c in group]
        slot.conn.send([c.model_dump_json() for c in group])

    def wait(self, timeout: float) -> list[Result]:
        busy = [s for s in self._slots if s.run_ids is not None]
        wait_ready([s.conn for s in busy] + [s.proc.sentinel for s in busy], timeout)
        results = []
        for slot in busy:
            got = None
            try:
                if slot.conn.poll():
                    got = slot.conn.recv()
            except (EOFError, OSError):
                pass
            if got is None and slot.proc.is_alive():
                continue
            if got is None:  # the worker died with these runs: they failed, not the sweep
                slot.proc.join()
                error = f"worker process died (exit code {slot.proc.exitcode})"
                got = [(run_id, None, "failed", error, 0.0) for run_id in slot.run_ids]
                slot.conn.close()
                self._slots.remove(slot)
            else:
                slot.run_ids = None
            results.extend(got)
        return results

    def close(self) -> None:
        for slot in self._slots:
            slot.stop(grace=5.0)
        self._slots.clear()


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
        return _drive(configs, store_path, _LocalBackend(workers), status, on_update, population)


# -- Ray -----------------------------------------------------------------------------------
def _ray_task(cfg_jsons: list[str]) -> list[Result]:
    """A Ray task: one group, in a worker that may not open the store."""
    os.environ[NO_STORE_ENV] = "1"
    return run_group(cfg_jsons)


class _RayBackend(_Backend):
    def __init__(self, ray, cpus_per_run: float, gpus_per_run: float, started_here: bool):
        self._ray, self._started_here = ray, started_here
        self.capacity = max(1, int(ray.cluster_resources().get("CPU", 1) // cpus_per_run))
        self._task = ray.remote(num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=0)(
            _ray_task
        )
        self._refs: dict = {}

    @property
    def busy(self) -> int:
        return len(self._refs)

    def submit(self, group: list[TrainConfig]) -> None:
        self._refs[self._task.remote([c.model_dump_json() for c in group])] = [c.id for c in group]

    def wait(self, timeout: float) -> list[Result]:
        ready, _ = self._ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        results = []
        for ref in ready:
            run_ids = self._refs.pop(ref)
            try:
                results.extend(self._ray.get(ref))
            except Exception as e:  # noqa: BLE001 - the worker died: its runs failed
                results.extend((i, None, "failed", f"Ray worker failed: {e}", 0.0) for i in run_ids)
        return results

    def close(self) -> None:
        for ref in self._refs:
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - already finished or gone
                pass
        if self._started_here:
            self._ray.shutdown()


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
            _check_ray_address(address)
            ray.init(
                address=address,
                num_cpus=num_cpus if address is None else None,
                include_dashboard=False,
                log_to_driver=False,
                logging_level="ERROR",
            )
        try:
            backend = _RayBackend(ray, cpus_per_run, gpus_per_run, started_here)
        except BaseException:
            if started_here:
                ray.shutdown()
            raise
        status.workers = backend.capacity
        return _drive(configs, store_path, backend, status, on_update, population)


def _check_ray_address(address: str | None) -> None:
    """Fail fast, naming the address, when nothing listens at a cluster address (ray.init
    itself retries for minutes)."""
    if address is None or address in ("auto", "local"):
        return
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not port.isdigit():
        raise InputError(f"--ray-address {address!r}: expected HOST:PORT (or ray://HOST:PORT)")
    error: OSError | None = None
    for attempt in range(RAY_CONNECT_TRIES):
        try:
            socket.create_connection((host or "127.0.0.1", int(port)), timeout=2.0).close()
            return
        except OSError as e:
            error = e
            if attempt < RAY_CONNECT_TRIES - 1:
                time.sleep(1.0)
    raise InputError(
        f"--ray-address {address}: no Ray cluster answers there ({error}; "
        f"tried {RAY_CONNECT_TRIES} times); start one with `ray start --head` or fix the address"
    )


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
