"""Batch-1 inference latency of the fine-tuned deep model, each member, and each soft committee of the members.

Timed with the committee benchmark's own round-robin (`modeling_tlm.timing.forward_latencies`: A B C, C B A, ...),
so load from other processes falls on every model alike. The input is a real test sequence of the task, of the test
split's median length. Committees run fused on one device (the committee's eval path), and with each member in its
own one-thread process, all started on the same input at once (`modeling_tlm.committee.MembersInProcesses`): the
paper's low-latency setting, measured ("concurrent"; members beyond the machine's cores share them, and the results
say so). "parallel" is the older estimate of that setting, the slowest member timed alone.

    python -m experiments.latency --deep runs/ft-deep --members runs/ft-b1 runs/ft-b1-conv2 --task_name ag_news \
        --data_dir ../shared/data --seed 0 --output_dir runs/latency
"""

from __future__ import annotations

import itertools
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from modeling_tlm.training.checks import check_checkpoint_folder
from modeling_tlm.training.commands import run_cli

from .cell_io import load_data, parse, write_results


@dataclass
class LatencyCellArguments:
    deep: str = field(default="", metadata={"help": "the fine-tuned deep model"})
    members: list[str] = field(default_factory=list, metadata={"help": "fine-tuned member checkpoints"})
    min_size: int = field(default=2, metadata={"help": "time every committee of at least this many members"})
    repeats: int = field(default=200, metadata={"help": "timed batch-1 calls per model"})
    warmup: int = field(default=5, metadata={"help": "untimed calls per model first"})
    threads: int = field(default=1, metadata={"help": "torch threads (1: one core per model, as on a small device)"})


def main(argv: list[str] | None = None) -> dict:
    import torch

    from modeling_tlm import (
        TLMCommitteeForSequenceClassification,
        TLMForSequenceClassification,
    )
    from modeling_tlm.committee import MembersInProcesses
    from modeling_tlm.data import load_tokenizer
    from modeling_tlm.timing import forward_latencies, gflops_per_sequence

    started = time.time()
    data_args, cell, args = parse(LatencyCellArguments, argv)
    check_checkpoint_folder(args.deep, "--deep")
    for path in args.members:
        check_checkpoint_folder(path, "--members")
    torch.set_num_threads(args.threads)
    tokenizer = load_tokenizer(args.members[0])
    _, tokenized = load_data(data_args, cell.seed, tokenizer)
    lengths = np.asarray([len(ids) for ids in tokenized["test"]["input_ids"]])
    row = int(np.argsort(lengths)[len(lengths) // 2])  # the median-length test sequence
    input_ids = torch.tensor([tokenized["test"][row]["input_ids"]])  # (1, T)

    names = {Path(p).name: p for p in args.members}
    models = {"deep": TLMForSequenceClassification.from_pretrained(args.deep).eval()}
    models.update({name: TLMForSequenceClassification.from_pretrained(p).eval() for name, p in names.items()})
    committees = {}
    for size in range(args.min_size, len(args.members) + 1):
        for subset in itertools.combinations(names, size):
            committees[" + ".join(subset)] = list(subset)
            models[" + ".join(subset)] = TLMCommitteeForSequenceClassification.from_members([names[n] for n in subset])

    concurrent = {name: MembersInProcesses(models[name]) for name in committees}
    try:
        timing = forward_latencies({**models, **{f"{n} (concurrent)": c for n, c in concurrent.items()}}, input_ids,
                                   "fp32", iters=args.repeats, warmup=args.warmup, min_iters=args.repeats)  # ms per call
    finally:
        for c in concurrent.values():
            c.close()
    figures = {}
    for name in models:
        ms = timing[name]
        figures[name] = {"p50_ms": statistics.median(ms), "p95_ms": float(np.percentile(ms, 95)), "calls": len(ms),
                         "gflops": gflops_per_sequence(models[name], input_ids),
                         "parameters": sum(p.numel() for p in models[name].parameters())}
    for name, subset in committees.items():
        ms = timing[f"{name} (concurrent)"]  # measured: every member in its own process at once
        figures[name].update(concurrent_p50_ms=statistics.median(ms), concurrent_p95_ms=float(np.percentile(ms, 95)),
                             members_share_cores=len(subset) > (os.cpu_count() or 1), members=subset,
                             parallel_p50_ms=max(figures[m]["p50_ms"] for m in subset))  # estimate: slowest alone
    results = {
        "script": "experiments.latency", "task": data_args.task_name, "seed": cell.seed, "threads": args.threads,
        "sequence_tokens": int(input_ids.shape[1]), "batch_size": 1, "dtype": "fp32", "deep": Path(args.deep).name,
        "members": list(names), "figures": figures, "runtime_seconds": round(time.time() - started, 1),
    }
    write_results(cell.output_dir, results)
    for name, f in figures.items():
        print(f"{name:60s} p50 {f['p50_ms']:7.2f} ms  p95 {f['p95_ms']:7.2f} ms  {f['gflops']:.3f} GFLOPs")
    return results


if __name__ == "__main__":
    run_cli(main)
