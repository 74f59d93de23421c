"""Process-level settings for training processes: the allocator, CPU compilation, GPU choice.

Called where a process starts (`mixlab train`, each sweep worker), never per run.

glibc returns big freed blocks to the kernel at once (and maps blocks over its threshold
afresh), so each training step's logits and their gradient are zero-filled new pages again:
millions of page faults. Raising the thresholds keeps that memory in the process; the
numbers computed do not change.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
KEEP_BYTES = 1 << 30  # blocks up to 1 GiB come from (and go back to) the process's heap
TOP_PAD_BYTES = 64 << 20  # grow the heap 64 MiB at a time

_state = {"allocator": False, "compile_cpu": False}


GLIBC_DEFAULT_BYTES = 128 << 10  # glibc's starting thresholds and top pad


def tune_allocator() -> bool:
    """Raise glibc's mmap and trim thresholds in this process; False where it does not apply.

    `MIXLAB_MALLOC=off` in the environment leaves the allocator alone (for comparisons).
    """
    if os.environ.get("MIXLAB_MALLOC", "on").lower() in ("off", "0", "false"):
        return False
    return _state["allocator"] or set_allocator(tuned=True)


def set_allocator(tuned: bool) -> bool:
    """Keep up to 1 GiB blocks in the heap (`tuned`), or go back to glibc's 128 KiB values
    (the no-longer-dynamic default; for tests). False without glibc's mallopt."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    keep, pad = (KEEP_BYTES, TOP_PAD_BYTES) if tuned else (GLIBC_DEFAULT_BYTES,) * 2
    settings = ((M_MMAP_THRESHOLD, keep), (M_TRIM_THRESHOLD, keep), (M_TOP_PAD, pad))
    ok = all([mallopt(param, value) == 1 for param, value in settings])
    _state["allocator"] = ok and tuned
    return ok


def start_process(*, compile_cpu: bool = False) -> None:
    """What a training process does once when it starts (the trainer and sweep workers).

    `compile_cpu`: `compile: auto` also compiles on CPU in this process (a sweep worker
    that trains many steps: the compile cost is paid once per worker, then amortised).
    """
    tune_allocator()
    if compile_cpu:
        _state["compile_cpu"] = True


CPU_COMPILE_MIN_STEPS = 5000  # training steps per worker that repay a cold CPU compile


def cpu_compile_pays(steps_per_run: list[int], workers: int) -> bool:
    """Whether a local sweep's workers should compile on CPU: each trains several runs and
    enough steps in all for a 1.1-1.2x faster step to repay 10-30 s (or more) of compiling."""
    return len(steps_per_run) > workers and sum(steps_per_run) / workers >= CPU_COMPILE_MIN_STEPS


def compile_cpu_by_default() -> bool:
    """Whether `compile: auto` compiles on CPU in this process (a sweep worker of many runs)."""
    return _state["compile_cpu"]


def gpu_for_worker(worker: int, visible: str | None, n_devices: int) -> str | None:
    """The CUDA_VISIBLE_DEVICES value that gives local sweep worker `worker` its own GPU.

    Workers go round the visible GPUs (`visible`, the parent's CUDA_VISIBLE_DEVICES, or all
    `n_devices` when unset); None where there is no GPU to spread over.
    """
    if visible is not None:
        ids = [d.strip() for d in visible.split(",") if d.strip()]
        if not ids or ids == ["-1"]:
            return None
    else:
        ids = [str(i) for i in range(n_devices)]
    if not ids:
        return None
    return ids[worker % len(ids)]


def cuda_device_count() -> int:
    """GPUs this process sees (0 without CUDA), asked without starting CUDA here."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def assign_gpu(worker: int, n_devices: int) -> str | None:
    """Give this (new, CUDA-less) worker process its own GPU via CUDA_VISIBLE_DEVICES."""
    gpu = gpu_for_worker(worker, os.environ.get("CUDA_VISIBLE_DEVICES"), n_devices)
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    return gpu
