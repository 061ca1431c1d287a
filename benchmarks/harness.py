"""Measurement helpers shared by the benchmarks.

- `TrainerWindows`: a real `Trainer.train()` cut into windows of optimizer steps, so that two Trainers can take
  turns in one process; `windowed_trainer` builds the Trainers the benchmarks time that way.
- `print_profile`: where one bare training step's time goes, by op and as a split (dense matmuls, the rest,
  dropout's mask draws).
- `matmul_peak`: the FLOP/s this machine reaches on plain matrix products right now, the denominator of model FLOPs
  utilisation.
- `in_fresh_process`: run a function in a new Python process and return its result with that process's peak resident
  memory. Peak RSS is per process, and memory freed by one model stays in the process's heap for the next, so two
  models measured in one process cannot be told apart; each gets its own. `reset_peak_memory` lets the function
  leave out its set-up (e.g. tokenizing data) from the peak.
"""

import concurrent.futures
import dataclasses
import math
import multiprocessing
import os
import resource
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments

from modeling_tlm.timing import machine, median
from modeling_tlm.training.files import write_json


def print_profile(name: str, model, batch: dict, dtype: str, top: int, vocab_size: int | None = None) -> dict:
    """torch.profiler's `top` ops by self time over one bare training step (forward, backward, fused AdamW step)
    taken after one untimed step, so the table shows where a step's time goes; printed with its split
    (`profile_split`, which a masked LM's `vocab_size` lets tell the vocabulary projection apart), and returned."""
    from torch.profiler import ProfilerActivity, profile

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)

    def step():
        with torch.autocast("cpu", torch.bfloat16, enabled=dtype == "bf16"):
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        step()
    print(f"profile of one {name} step ({dtype}):")
    by_shape = prof.key_averages(group_by_input_shape=True)
    print(by_shape.table(sort_by="self_cpu_time_total", row_limit=top, max_name_column_width=40,
                         max_shapes_column_width=60), flush=True)
    split = profile_split(by_shape, batch["input_ids"].numel(), vocab_size)
    ms = {k: f"{v:,.1f} ms" for k, v in split.items()}
    print(f"{name} step split: {ms['all']} in all; matmuls at every position {ms['dense']}, other matmuls "
          f"{ms['other']}, dropout mask draws {ms['dropout']}")
    return split


def profile_split(events, positions: int, vocab_size: int | None) -> dict[str, float]:
    """Where a profiled step's time went, in ms: "all"; "dense", matmuls whose operands span every position (B*T
    rows: the layers both models run densely; with a `vocab_size`, not the vocabulary projection); "other", the other
    matmuls (what runs at fewer positions: the last layer, the heads); "dropout", dropout's mask draws."""
    split = {"all": 0.0, "dense": 0.0, "other": 0.0, "dropout": 0.0}
    for event in events:
        t = event.self_cpu_time_total / 1e3
        split["all"] += t
        if event.key in ("aten::mm", "aten::addmm", "aten::baddbmm"):
            shapes = [tuple(s) for s in event.input_shapes if s]
            dense = any(positions in shape for shape in shapes) and not (
                vocab_size and any(vocab_size in shape for shape in shapes))
            split["dense" if dense else "other"] += t
        elif event.key == "aten::bernoulli_":
            split["dropout"] += t
    return split


def matmul_peak(dtype: torch.dtype, shapes=((2048, 2048, 2048),), repeats: int = 5) -> float:
    """Measured peak FLOP/s of `dtype` matrix products: for each (m, k, n) shape the fastest of `repeats` timed
    products after one warm-up, and the best shape's figure. The fastest, not the median: a peak is what the machine
    reaches when nothing else runs, and a neighbour's burst only ever slows a product down."""
    best = 0.0
    for m, k, n in shapes:
        a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
        a @ b  # warm-up: kernel selection, page faults
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - start)
        best = max(best, 2 * m * k * n / min(times))
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


class TrainerWindows(TrainerCallback):
    """`trainer.train()` in a thread that stops after every `steps` optimizer steps; each call runs one window.

    This is how two real Trainers take turns in one process: the caller times each call.
    """

    def __init__(self, trainer: Trainer, steps: int):
        self.trainer, self.steps, self.error = trainer, steps, None
        self._go, self._stopped = threading.Semaphore(0), threading.Semaphore(0)
        self._thread = threading.Thread(target=self._train, daemon=True)
        trainer.add_callback(self)

    def _train(self):
        self._go.acquire()
        try:
            self.trainer.train()
        except BaseException as error:  # handed to the caller's thread
            self.error = error
        finally:
            self._stopped.release()

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step % self.steps == 0:
            self._stopped.release()
            self._go.acquire()

    def __call__(self):
        if not self._thread.is_alive() and self.error is None:
            self._thread.start()
        self._go.release()
        self._stopped.acquire()
        if self.error is not None:
            raise self.error

    def finish(self):
        """Let train() run to its end (untimed) and return the losses it logged, one per step."""
        self._go.release()
        self._thread.join()
        if self.error is not None:
            raise self.error
        return [entry["loss"] for entry in self.trainer.state.log_history if "loss" in entry]


def windowed_trainer(model, dataset, collator, args, max_steps: int, **training_args) -> Trainer:
    """A real Trainer as the throughput benchmarks time it: fused AdamW, the data in the order given (shuffled once
    beforehand, so that every model reads the same batches), no saving, no printing (the losses are read from
    `trainer.state.log_history`). `args` is the benchmark's (output_dir, batch_size, learning_rate, seed);
    `training_args` add to the TrainingArguments (e.g. bf16)."""
    arguments = TrainingArguments(
        output_dir=args.output_dir, max_steps=max_steps, per_device_train_batch_size=args.batch_size,
        learning_rate=args.learning_rate, optim="adamw_torch_fused", train_sampling_strategy="sequential",
        dataloader_drop_last=True, logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True,
        use_cpu=True, seed=args.seed, **training_args,
    )
    trainer = Trainer(model=model, args=arguments, train_dataset=dataset, data_collator=collator)
    trainer.remove_callback(PrinterCallback)
    return trainer


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "| --- " * len(header) + "|",
                      *("| " + " | ".join(row) + " |" for row in rows)])


def print_rows(rows: Iterable[dict], format_table: Callable[[list[dict]], str]) -> list[dict]:
    """Each row printed (rounded) as it is measured, then the table of all of them after the load at the end."""
    done = []
    for row in rows:
        print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
        done.append(row)
    print_end(format_table(done))
    return done


def machine_line(device: str = "cpu") -> str:
    """What a reader needs to judge a figure: torch, threads, CPU (and GPU) and how busy the machine is right now."""
    gpu = f", GPU {torch.cuda.get_device_name()}" if device != "cpu" else ""
    m = machine()
    return (f"torch {torch.__version__}, {torch.get_num_threads()} threads of {m['cores']} CPUs, {m['cpu']} family/model "
            f"{m['cpu_family_model']} ({', '.join(m['cpu_features']) or 'no AVX2'}), CPU capability "
            f"{torch.backends.cpu.get_cpu_capability()}{gpu}, load average {os.getloadavg()[0]:.2f}")


def parse_arguments(arguments_type, argv: list[str] | None, check, adjust=None):
    """A benchmark's arguments: parsed (HfArgumentParser), `adjust`ed (e.g. a --quick preset), checked before any
    work, and `--threads` applied."""
    from transformers import HfArgumentParser

    (args,) = HfArgumentParser(arguments_type).parse_args_into_dataclasses(args=argv)
    if adjust:
        adjust(args)
    check(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def print_end(table: str) -> None:
    """The load average at the end (the benchmark's own threads count) and the table."""
    print(f"\nload average at end {os.getloadavg()[0]:.2f}\n\n{table}\n", flush=True)


def write_rows(path: str | None, args, rows: list[dict]) -> None:
    """A run's arguments (a dataclass) and rows as JSON at `path`, when one is given (--output_json)."""
    if path:
        write_json(path, dict(args=dataclasses.asdict(args), rows=rows))


def ratio_text(ratio: float, window_ratios: list[float], target: float | None) -> str:
    """'2.05x [1.90, 2.20] (2.5x)': TLM / stock of the medians, the range over pairs of windows, the target if any."""
    aim = f" ({target:.1f}x)" if target is not None and not math.isnan(target) else ""
    return f"{ratio:.2f}x [{min(window_ratios):.2f}, {max(window_ratios):.2f}]{aim}"


def spread(values: list[float]) -> str:
    """'median [min, max]' of timed windows, the figure and how much the machine moved it."""
    def number(x: float) -> str:
        return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"
    return f"{number(median(values))} [{number(min(values))}, {number(max(values))}]"
