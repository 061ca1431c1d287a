"""Inference latency of the TLM classifier against stock `BertForSequenceClassification`, and of its ONNX export.

For each preset, three figures share one round-robin (`modeling_tlm.timing.interleaved_windows`: A B C, C B A, ...),
so load from other processes falls on all of them alike:

- TLM in PyTorch (`TLMForSequenceClassification`: fused QKV, SDPA, last layer at [CLS] only);
- stock transformers BERT with the same weights (`modeling_tlm.conversion.tlm_to_bert`; its default SDPA attention);
- TLM exported with `torch.onnx.export` (dynamic batch and length) and run by ONNX Runtime on the CPU with as many
  intra-op threads as torch uses (needs the `export` extra; left out, and said so, without it).

Every call gets input_ids and an all-ones attention_mask of --seq_len tokens (what a tokenizer hands a model), in
eval mode under `torch.inference_mode`; p50 / p95 are over the timed calls after warm-up, and every output is checked
against TLM's own logits first (1e-4), so a fast wrong figure cannot get in.

    python -m benchmarks.inference_latency                 # bert-1, bert-6; batch 1 and 32; 128 tokens; fp32
    python -m benchmarks.inference_latency --presets tiny --batch_sizes 1 --iters 3 --warmup 1 --seq_len 16
"""

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from benchmarks.harness import machine_line, parse_arguments, print_end, write_rows
from modeling_tlm import TLMConfig, TLMForSequenceClassification
from modeling_tlm.conversion import tlm_to_bert
from modeling_tlm.timing import interleaved_windows, median
from modeling_tlm.training.checks import check_at_least, check_preset_positions, check_presets
from modeling_tlm.training.commands import run_cli

TARGETS = {("bert-1", 1): 2.0}  # stock p50 / TLM p50 (preset, batch size)


@dataclass
class InferenceArguments:
    presets: list[str] = field(default_factory=lambda: ["bert-1", "bert-6"], metadata={"help": "conv-free TLM presets"})
    batch_sizes: list[int] = field(default_factory=lambda: [1, 32])
    seq_len: int = field(default=128, metadata={"help": "tokens per input sequence"})
    iters: int = field(default=30, metadata={"help": "timed calls per figure"})
    warmup: int = field(default=3, metadata={"help": "untimed calls per figure first"})
    onnx: bool = field(default=True, metadata={"help": "also time the ONNX Runtime export (needs the export extra)"})
    num_labels: int = 4
    threads: int | None = field(default=None, metadata={"help": "torch.set_num_threads (and ONNX Runtime's); default: torch's"})
    output_json: str | None = field(default=None, metadata={"help": "also write the rows here"})
    seed: int = 0


def check_arguments(args: InferenceArguments) -> None:
    check_presets("--presets", args.presets, conv_free=True)
    check_at_least(args, ("seq_len", "iters", "batch_sizes"))
    check_at_least(args, ("warmup",), minimum=0)
    check_preset_positions("--seq_len", args.seq_len)


def onnx_runtime_session(model, input_ids, attention_mask, folder: Path, threads: int):
    """`model` exported with dynamic batch and length, in an ONNX Runtime CPU session; None without the extra."""
    try:
        import onnxruntime as ort
        import onnxscript  # noqa: F401 (torch.onnx.export's dynamo exporter needs it)
    except ImportError:
        return None
    batch, seq = torch.export.Dim("batch", min=1, max=1024), torch.export.Dim("seq", min=2, max=model.config.max_position_embeddings)
    path = folder / "model.onnx"
    torch.onnx.export(model, (input_ids, attention_mask), str(path), input_names=["input_ids", "attention_mask"],
                      output_names=["logits"], dynamic_shapes=({0: batch, 1: seq}, {0: batch, 1: seq}))
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def figure_calls(preset: str, args: InferenceArguments, input_ids, folder: Path) -> dict:
    """{figure name: (call(batch) -> logits as numpy)} for one preset, all from the same weights."""
    torch.manual_seed(args.seed)
    tlm = TLMForSequenceClassification(TLMConfig.from_preset(preset, num_labels=args.num_labels)).eval()
    stock = tlm_to_bert(tlm).eval()

    def torch_call(model):
        def call(ids, mask):
            with torch.inference_mode():
                return model(input_ids=ids, attention_mask=mask).logits.numpy()
        return call

    calls = {"TLM (PyTorch)": torch_call(tlm), "stock BERT (PyTorch)": torch_call(stock)}
    if args.onnx:
        mask = torch.ones_like(input_ids[:2])
        session = onnx_runtime_session(tlm, input_ids[:2], mask, folder, torch.get_num_threads())
        if session is None:
            print("ONNX Runtime figure left out: install the export extra (pip install -e '.[export]')", flush=True)
        else:
            calls["TLM (ONNX Runtime)"] = lambda ids, mask: session.run(
                ["logits"], {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
    return calls


def time_calls(calls: dict, ids, mask, args: InferenceArguments) -> dict[str, list[float]]:
    """Milliseconds of every timed call, round-robin; each figure's output checked against the first's first."""
    reference = next(iter(calls.values()))(ids, mask)
    for name, call in calls.items():
        np.testing.assert_allclose(call(ids, mask), reference, atol=1e-4, rtol=1e-4, err_msg=name)
    bound = {name: (lambda call=call: call(ids, mask)) for name, call in calls.items()}
    interleaved_windows(bound, args.warmup)  # untimed: kernel selection, page faults, ORT's first-run allocations
    return {name: [1e3 * s for s in times] for name, times in interleaved_windows(bound, args.iters).items()}


def run(args: InferenceArguments) -> list[dict]:
    torch.manual_seed(args.seed)
    input_ids = torch.randint(1000, TLMConfig().vocab_size, (max(args.batch_sizes), args.seq_len))
    input_ids[:, 0], input_ids[:, -1] = TLMConfig().cls_token_id, TLMConfig().sep_token_id
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for preset in args.presets:
            calls = figure_calls(preset, args, input_ids, Path(folder))
            for batch_size in args.batch_sizes:
                ids = input_ids[:batch_size]
                ms = time_calls(calls, ids, torch.ones_like(ids), args)
                tlm = median(ms["TLM (PyTorch)"])
                for name, times in ms.items():
                    row = dict(preset=preset, batch_size=batch_size, model=name, calls=len(times), p50=median(times),
                               p95=float(np.percentile(times, 95)), speedup_vs_stock=median(ms["stock BERT (PyTorch)"]) / median(times),
                               vs_tlm_pytorch=median(times) / tlm)
                    rows.append(row)
                    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    return rows


def format_table(rows: list[dict]) -> str:
    lines = ["| model | batch | figure | p50 ms | p95 ms | stock p50 / this p50 |", "| --- " * 6 + "|"]
    for r in rows:
        target = TARGETS.get((r["preset"], r["batch_size"])) if r["model"] == "TLM (PyTorch)" else None
        lines.append(f"| {r['preset']} | {r['batch_size']} | {r['model']} | {r['p50']:,.2f} | {r['p95']:,.2f} | "
                     f"{r['speedup_vs_stock']:.2f}x{f' (target {target:.0f}x)' if target else ''} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_arguments(InferenceArguments, argv, check_arguments)
    print(machine_line(), flush=True)
    rows = run(args)
    print_end(format_table(rows))
    write_rows(args.output_json, args, rows)
    return rows


if __name__ == "__main__":
    run_cli(main)
