"""Measurement helpers shared by the benchmarks.

- `interleaved_windows`: time several candidates in alternating windows (A B B A A B ...) and keep every window, so
  that noise from other processes on a shared machine falls on all candidates alike; report medians.
- `matmul_peak`: the FLOP/s this machine reaches on plain matrix products right now, the denominator of model FLOPs
  utilisation.
- `in_fresh_process`: run a function in a new Python process and return its result with that process's peak resident
  memory. Peak RSS is per process, and memory freed by one model stays in the process's heap for the next, so two
  models measured in one process cannot be told apart; each gets its own. `reset_peak_memory` lets the function
  leave out its set-up (e.g. tokenizing data) from the peak.
"""

import concurrent.futures
import multiprocessing
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch


def interleaved_windows(candidates: dict[str, Callable[[], object]], windows: int) -> dict[str, list[float]]:
    """Seconds taken by each call of each candidate, `windows` calls each, in the order A B, B A, A B, ...

    Flipping the order every window keeps a candidate from always running right after another one (cache state,
    thermal or frequency drift, a neighbour's burst of work), and keeping the windows lets the caller take medians.
    """
    names = list(candidates)
    seconds = {name: [] for name in names}
    for window in range(windows):
        for name in names if window % 2 == 0 else reversed(names):
            start = time.perf_counter()
            candidates[name]()
            seconds[name].append(time.perf_counter() - start)
    return seconds


def median(values: list[float]) -> float:
    return statistics.median(values)


def matmul_peak(dtype: torch.dtype, shapes=((2048, 2048, 2048),), repeats: int = 3) -> float:
    """Measured peak FLOP/s of `dtype` matrix products: for each (m, k, n) shape the median of `repeats` timed
    products after one warm-up, and the best shape's figure."""
    best = 0.0
    for m, k, n in shapes:
        a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
        a @ b  # warm-up: kernel selection, page faults
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - start)
        best = max(best, 2 * m * k * n / median(times))
    return best


def reset_peak_memory() -> bool:
    """Restart this process's peak-RSS count from its current RSS (Linux: /proc/self/clear_refs), so that the peak
    read later covers only what follows (e.g. training, not tokenizing). False where the system does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_memory() -> int:
    """Peak resident bytes of this process since it started or since `reset_peak_memory`."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # reported in kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB; no reset possible


def _call_and_measure(fn, args, kwargs):
    result = fn(*args, **kwargs)
    return result, peak_memory()


def in_fresh_process(fn: Callable, *args, **kwargs) -> tuple[object, int]:
    """(fn(*args, **kwargs), peak resident bytes of the process that ran it), in a new "spawn" process.

    The peak covers everything the process held: the interpreter, imported libraries, model, optimizer state and
    activations, and whatever `fn` loaded before it called `reset_peak_memory` (if it did, the peak before that call
    is left out; the memory still held then is counted). Comparing two models measured this way compares what a user
    running either would see. `fn` must be importable by name (a module-level function), as "spawn" requires.
    """
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_call_and_measure, fn, args, kwargs).result()
