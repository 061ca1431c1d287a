"""Inference latency of soft committees of BERT-1 members against one BERT-6 classifier.

For each committee preset, the BERT-6 baseline and every committee figure are timed in the same round-robin
(`modeling_tlm.timing.forward_latencies`: A B C, C B A, ...), so load from other processes on a shared machine falls
on all of them alike; p50 / p95 are over the timed calls after warm-up, ratios are against the baseline's p50 / p95
from the same round-robin. Per committee size N:

- sequential: the N members' own `forward`, one after another (`fused_inference = False`);
- fused: one batched computation on one device (`TLMCommitteeForSequenceClassification`'s eval path: stacked
  weights, batched matmuls, grouped convs, last layer for [CLS] only);
- one member alone (one per preset): a 1-member committee on the fused path = the committee's latency when every
  member has its own device (the paper's low-latency argument), estimated;
- one process per member: the same measured for real, fp32 on the CPU: each member in its own process on one thread,
  all started on the same input at once, their probabilities averaged here when the last one answers (the pipes'
  round trip included). With more members than CPUs they share cores, and the line above the table says so.

GFLOPs per sequence are counted by `torch.utils.flop_counter` on one forward at batch 1 (attention through SDPA's
math backend so that it is counted): what each implementation executes. Inputs are random ids of --seq_len tokens,
no padding. bf16 is autocast over fp32 weights.

    python -m benchmarks.committee_latency                 # everything: the paper's presets and bert-1, N = 2, 3, 5
    python -m benchmarks.committee_latency --quick         # the target: 3 x bert-1 vs BERT-6, batch 1, fp32
    python -m benchmarks.committee_latency --baseline tiny --presets tiny --sizes 2 --batch_sizes 1 \\
        --dtypes fp32 --iters 2 --warmup 1 --seq_len 16   # seconds (the smoke test)
"""

import json
import os
from dataclasses import dataclass, field

import numpy as np
import torch

from benchmarks.harness import machine_line, parse_arguments, print_end, write_rows
from modeling_tlm import (
    TLMCommitteeForSequenceClassification,
    TLMConfig,
    TLMForSequenceClassification,
)
from modeling_tlm.committee import MembersInProcesses
from modeling_tlm.timing import DTYPES, forward_latencies, gflops_per_sequence, median
from modeling_tlm.training.checks import ArgumentError, check_at_least, check_choices, check_preset_positions, check_presets
from modeling_tlm.training.commands import run_cli

PAPER_PRESETS = ["bert-1", "bert-1-h24", "bert-1-conv2-k3-d64", "bert-1-conv2-k3-d64-h8", "bert-1-conv3-k3-d32",
                 "bert-1-conv2-k16x3-d64"]
TARGET = dict(preset="bert-1", size=3, batch_size=1, dtype="fp32", ratio=0.4)  # the latency target


@dataclass
class LatencyArguments:
    presets: list[str] = field(default_factory=lambda: list(PAPER_PRESETS), metadata={"help": "committee member presets"})
    baseline: str = field(default="bert-6", metadata={"help": "preset of the single deep classifier"})
    sizes: list[int] = field(default_factory=lambda: [2, 3, 5], metadata={"help": "committee sizes N"})
    batch_sizes: list[int] = field(default_factory=lambda: [1, 32])
    dtypes: list[str] = field(default_factory=lambda: ["fp32", "bf16"], metadata={"help": "fp32 and/or bf16 (autocast)"})
    seq_len: int = field(default=128, metadata={"help": "tokens per input sequence"})
    iters: int = field(default=30, metadata={"help": "timed calls per figure (fewer if --budget_s runs out)"})
    min_iters: int = field(default=5, metadata={"help": "timed calls per figure however long they take"})
    warmup: int = field(default=3, metadata={"help": "untimed calls per figure first"})
    budget_s: float = field(default=300.0, metadata={"help": "seconds of timed calls per (preset, dtype, batch) group"})
    max_call_gflops: float = field(
        default=0.0, metadata={"help": "skip figures whose one call costs more GFLOPs than this (0: none)"}
    )
    processes: bool = field(default=True, metadata={"help": "also time each committee with one process per member"})
    num_labels: int = 4
    threads: int | None = field(default=None, metadata={"help": "torch.set_num_threads; default: torch's"})
    device: str = field(default="cpu", metadata={"help": "cpu, or cuda to time on a GPU (synchronised per call)"})
    quick: bool = field(default=False, metadata={"help": "only the target: 3 x bert-1 vs BERT-6, batch 1, fp32"})
    output_json: str | None = field(default=None, metadata={"help": "also write the rows here"})
    seed: int = 0


def check_arguments(args: LatencyArguments) -> None:
    check_presets("--baseline", [args.baseline])
    check_presets("--presets", args.presets)
    check_choices("--dtypes", "dtype", args.dtypes, DTYPES)
    check_at_least(args, ("seq_len", "iters", "min_iters", "sizes", "batch_sizes"))
    if args.device != "cpu" and not torch.cuda.is_available():
        raise ArgumentError(f"--device {args.device}: no GPU is available here (torch {torch.__version__})")
    check_preset_positions("--seq_len", args.seq_len)


def build_figures(preset: str, args: LatencyArguments) -> dict:
    """{figure name: model} for one preset: the committees share max(sizes) members (built once, seeds 0..N-1)."""
    members = []
    for seed in range(max(args.sizes)):
        torch.manual_seed(args.seed + seed)
        member = TLMForSequenceClassification(TLMConfig.from_preset(preset, num_labels=args.num_labels)).eval()
        if members:  # One word table for all members: a call looks up only its T rows of it, so timing does not
            # change, and memory holds one 23M-parameter table (hidden 768) instead of one per member.
            member.tlm.embeddings.word_embeddings = members[0].tlm.embeddings.word_embeddings
        members.append(member.to(args.device))
    figures = {f"{preset}: one member alone": TLMCommitteeForSequenceClassification.from_members(members[:1])}
    for n in args.sizes:
        sequential = TLMCommitteeForSequenceClassification.from_members(members[:n])
        sequential.fused_inference = False
        figures[f"{preset} x{n}: sequential"] = sequential
        figures[f"{preset} x{n}: fused"] = TLMCommitteeForSequenceClassification.from_members(members[:n])
        if args.device == "cpu" and args.processes:
            committee = TLMCommitteeForSequenceClassification.from_members(members[:n])
            figures[f"{preset} x{n}: one process per member"] = MembersInProcesses(committee)
    return figures


def run(args: LatencyArguments) -> list[dict]:
    torch.manual_seed(args.seed)
    baseline = TLMForSequenceClassification(TLMConfig.from_preset(args.baseline, num_labels=args.num_labels))
    baseline = baseline.eval().to(args.device)
    input_ids = torch.randint(1000, TLMConfig().vocab_size, (max(args.batch_sizes), args.seq_len))
    input_ids[:, 0], input_ids[:, -1] = TLMConfig().cls_token_id, TLMConfig().sep_token_id
    input_ids = input_ids.to(args.device)
    baseline_name = f"{args.baseline} (baseline)"
    rows = []
    for preset in args.presets:
        figures = build_figures(preset, args)
        models = {baseline_name: baseline, **figures}
        gflops = {name: gflops_per_sequence(model, input_ids) for name, model in models.items()}
        for dtype in args.dtypes:
            for batch_size in args.batch_sizes:
                over = {n for n, g in gflops.items() if args.max_call_gflops and g * batch_size > args.max_call_gflops}
                skipped = {n: f"{gflops[n] * batch_size:,.0f} GFLOPs per call > --max_call_gflops" for n in over
                           if n != baseline_name}
                skipped |= {n: "members in processes run fp32 only" for n, m in models.items()
                            if isinstance(m, MembersInProcesses) and dtype != "fp32"}
                timed = {n: m for n, m in models.items() if n not in skipped}
                ms = forward_latencies(timed, input_ids[:batch_size], dtype, args.iters, args.warmup, args.min_iters,
                                       args.budget_s)
                base = ms[baseline_name]
                for name in models:
                    row = dict(group=preset, model=name, dtype=dtype, batch_size=batch_size, gflops=gflops[name])
                    if name in ms:
                        row.update(calls=len(ms[name]), p50=median(ms[name]), p95=float(np.percentile(ms[name], 95)),
                                   ratio_p50=median(ms[name]) / median(base),
                                   ratio_p95=np.percentile(ms[name], 95) / np.percentile(base, 95))
                    else:
                        row.update(calls=0, skipped=skipped[name])
                    rows.append(row)
                    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
        for figure in figures.values():
            if isinstance(figure, MembersInProcesses):
                figure.close()
        del figures, models
    return rows


def format_table(rows: list[dict]) -> str:
    lines = ["| dtype | batch | model | GFLOPs / seq | calls | p50 ms | p95 ms | p50 vs baseline | p95 vs baseline |",
             "| --- " * 9 + "|"]
    for r in sorted(rows, key=lambda r: (list(DTYPES).index(r["dtype"]), r["batch_size"])):
        timing = (f"{r['calls']} | {r['p50']:,.1f} | {r['p95']:,.1f} | {r['ratio_p50']:.3f}x | {r['ratio_p95']:.3f}x"
                  if r["calls"] else f"0 | skipped: {r['skipped']} | | | ")
        lines.append(f"| {r['dtype']} | {r['batch_size']} | {r['model']} | {r['gflops']:.2f} | {timing} |")
    return "\n".join(lines)


def target_lines(rows: list[dict]) -> list[str]:
    """The target, where this run measured it: fused 3 x bert-1 <= 0.4x BERT-6 and below sequential."""
    t = TARGET
    pick = {r["model"]: r for r in rows if r["dtype"] == t["dtype"] and r["batch_size"] == t["batch_size"]
            and r["group"] == t["preset"] and r["calls"]}
    fused, sequential = pick.get(f"{t['preset']} x{t['size']}: fused"), pick.get(f"{t['preset']} x{t['size']}: sequential")
    if not fused or not sequential:
        return []
    ok = fused["ratio_p50"] <= t["ratio"] and fused["p50"] < sequential["p50"]
    return [f"target ({t['preset']} x{t['size']}, batch {t['batch_size']}, {t['dtype']}): fused p50 = "
            f"{fused['ratio_p50']:.3f}x baseline (target <= {t['ratio']}x), sequential {sequential['ratio_p50']:.3f}x: "
            f"{'met' if ok else 'NOT met'}"]


def quick_preset(args: LatencyArguments) -> None:
    """--quick: only the target (3 x bert-1 against BERT-6, batch 1, fp32)."""
    if args.quick:
        args.presets, args.sizes, args.batch_sizes, args.dtypes, args.iters = ["bert-1"], [3], [1], ["fp32"], 20


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_arguments(LatencyArguments, argv, check_arguments, adjust=quick_preset)
    print(machine_line(args.device), flush=True)
    if args.processes and args.device == "cpu" and max(args.sizes) > (os.cpu_count() or 1):
        print(f"note: one process per member: up to {max(args.sizes)} members share {os.cpu_count()} CPUs, so the "
              "larger committees' figures measure shared cores, not one core each", flush=True)
    rows = run(args)
    print_end(format_table(rows))
    for line in target_lines(rows):
        print(line)
    write_rows(args.output_json, args, rows)
    return rows


if __name__ == "__main__":
    run_cli(main)
