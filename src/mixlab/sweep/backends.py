"""Where a sweep's runs train: a pool of long-lived local worker processes, or Ray tasks.

A backend starts groups of runs (`submit`) and hands back the results that came back
(`wait`); the driver loop in sweep/execute.py is the same for both.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from multiprocessing import get_context
from multiprocessing.connection import wait as wait_ready

from mixlab.errors import InputError
from mixlab.runs.store import NO_STORE_ENV
from mixlab.sweep.population import run_group
from mixlab.train.config import TrainConfig
from mixlab.train.runtime import cpu_compile_pays, cuda_device_count

RAY_CONNECT_TRIES = 4  # attempts to reach --ray-address, one second apart

Result = tuple[str, str | None, str, str | None, float]  # id, record JSON, status, error, secs


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker when the sweep process dies (no orphans)."""
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Backend:
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


class LocalBackend(Backend):
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


# -- Ray -----------------------------------------------------------------------------------
def _ray_task(cfg_jsons: list[str]) -> list[Result]:
    """A Ray task: one group, in a worker that may not open the store."""
    os.environ[NO_STORE_ENV] = "1"
    return run_group(cfg_jsons)


class RayBackend(Backend):
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


def check_ray_address(address: str | None) -> None:
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
