"""Timing and FLOP counting for comparisons on a shared machine (used by benchmarks/ and experiments/).

- `interleaved_windows`: time several candidates in alternating windows (A B, B A, A B, ...) and keep every window,
  so that noise from other processes falls on all candidates alike; report medians.
- `forward_latencies`: milliseconds of every forward call of several models on one input, round-robin.
- `gflops_per_sequence`: the FLOPs one forward executes on one sequence, attention included.
- `machine`: the CPU (model, family/model, the vector extensions that decide matmul speed), cores and platform, for
  every recorded figure.
"""

import os
import platform
import statistics
import time
from collections.abc import Callable

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def median(values: list[float]) -> float:
    return statistics.median(values)


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


def forward_latencies(models: dict, input_ids, dtype: str = "fp32", iters: int = 30, warmup: int = 3,
                      min_iters: int = 5, budget_s: float = float("inf")) -> dict[str, list[float]]:
    """Milliseconds of every timed `model(input_ids)` call of every model (eval mode, `torch.inference_mode`, bf16
    as autocast), called round-robin after `warmup` untimed rounds, until each has `iters` calls or `budget_s` is
    spent (after at least `min_iters`). On a GPU each call ends when the GPU is done."""
    device = input_ids.device

    def call(model):
        def run():
            with torch.inference_mode(), torch.autocast(device.type, DTYPES[dtype], enabled=dtype != "fp32"):
                model(input_ids)
            if device.type == "cuda":
                torch.cuda.synchronize()  # the call is over when the GPU is done, not when kernels are queued
        return run

    calls = {name: call(model) for name, model in models.items()}
    interleaved_windows(calls, warmup)  # untimed: kernel selection, stacked-weight caches, page faults
    seconds = {name: [] for name in models}
    start = time.perf_counter()
    while True:
        done = len(next(iter(seconds.values())))
        if done >= iters or (done >= min_iters and time.perf_counter() - start > budget_s):
            break
        for name, times in interleaved_windows(calls, min(2, iters - done)).items():
            seconds[name] += times
    return {name: [1e3 * s for s in times] for name, times in seconds.items()}


def gflops_per_sequence(model, input_ids) -> float:
    """GFLOPs of one forward on one sequence, attention included (SDPA's math backend is the one the counter sees).
    A model with a `reference` attribute (work done elsewhere, e.g. in other processes) is counted on that."""
    model = getattr(model, "reference", model)
    with torch.inference_mode(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(input_ids[:1])
    return counter.get_total_flops() / 1e9


CPU_FEATURES = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")  # what decides fp32 / bf16 matmul speed on a CPU


def machine() -> dict:
    """The machine a figure was measured on: CPU model name, family/model (an "AMD EPYC" name alone does not say
    which generation), its matmul-relevant extensions, cores, Python and platform."""
    info = {}
    try:
        for line in open("/proc/cpuinfo"):
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())  # the first core's entries
    except OSError:
        pass
    flags = set(info.get("flags", "").split())
    return {"cpu": info.get("model name", platform.processor() or platform.machine()),
            "cpu_family_model": f"{info.get('cpu family', '?')}/{info.get('model', '?')}",
            "cpu_features": [f for f in CPU_FEATURES if f in flags], "cores": os.cpu_count(),
            "python": platform.python_version(), "platform": platform.platform()}
