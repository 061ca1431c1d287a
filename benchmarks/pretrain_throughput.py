"""Pre-training throughput on this CPU: TLM against stock transformers `BertForMaskedLM` .

Both models start from the same weights (`modeling_tlm.conversion`), read the same packed Wikipedia sequences in the
same order, masked the same way (`DataCollatorForLanguageModeling` with one seed), and train through the real
`Trainer` with the same `TrainingArguments` (`optim="adamw_torch_fused"`, `bf16=True` for bf16 autocast). The two
Trainers run in two threads that take turns, one window of optimizer steps at a time, in the order A B B A A B ...;
after the warm-up windows, tokens/s is the median over the timed windows, so a burst of load from other processes on
a shared machine hits both models alike. A window covers everything a user's step costs: loading and masking the
batch, forward, backward, gradient clipping, the optimizer step and the Trainer's own bookkeeping.

Also printed, per preset and dtype:
- MFU: tokens/s x matmul FLOPs per token (counted by `torch.utils.flop_counter` on one forward and backward, i.e.
  the FLOPs each implementation really executes; TLM skips work, so it has fewer) / the matmul peak measured at the
  start of this run for that dtype (`benchmarks.harness.matmul_peak`).
- Peak memory: peak resident memory of a fresh process that builds the model and trains it a few steps through the
  same Trainer set-up (`benchmarks.harness.in_fresh_process`), one process per model.
- The MLM loss each model logged at the last step: identical start, data and masks, so they differ only by dropout
  noise and rounding.

    python -m benchmarks.pretrain_throughput                       # the README table: bert-1, bert-6 x fp32, bf16
    python -m benchmarks.pretrain_throughput --presets tiny --dtypes fp32 --batch_size 4 --seq_len 32 \\
        --windows 2 --memory_steps 0 --peak_sizes 256              # seconds
"""

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import AutoTokenizer, BertForMaskedLM

from benchmarks.harness import (
    TrainerWindows,
    in_fresh_process,
    machine_line,
    markdown_table,
    matmul_peak,
    parse_arguments,
    print_profile,
    print_rows,
    ratio_text,
    reset_peak_memory,
    spread,
    windowed_trainer,
)
from modeling_tlm import TLMConfig, TLMForMaskedLM
from modeling_tlm.conversion import tlm_config_to_bert, tlm_to_bert
from modeling_tlm.timing import DTYPES, interleaved_windows, median
from modeling_tlm.training.checks import ArgumentError, check_at_least, check_choices, check_preset_positions, check_presets
from modeling_tlm.training.collators import MLMCollator
from modeling_tlm.training.commands import run_cli

REPO_ROOT = Path(__file__).resolve().parents[1]
# Targets for TLM tokens/s over stock's, printed beside the measured ratios.
TARGET_RATIOS = {("bert-1", "fp32"): 4.0, ("bert-6", "fp32"): 2.5, ("bert-1", "bf16"): 3.0, ("bert-6", "bf16"): 2.5}
MODELS = ("tlm", "stock")


# Each benchmark declares its own flags, those it shares with the other included: their defaults differ (windows
# sized to each step's cost), and one flat dataclass is what --help lists in order.
@dataclass
class BenchmarkArguments:
    presets: list[str] = field(default_factory=lambda: ["bert-1", "bert-6"], metadata={"help": "conv-free TLM presets"})
    dtypes: list[str] = field(default_factory=lambda: ["fp32", "bf16"], metadata={"help": "fp32 and/or bf16 (autocast)"})
    batch_size: int = 32
    seq_len: int = field(default=128, metadata={"help": "tokens per packed sequence"})
    window_steps: int = field(default=1, metadata={"help": "optimizer steps per timed window"})
    windows: int = field(default=3, metadata={"help": "timed windows per model; tokens/s is their median"})
    warmup_windows: int = field(default=1, metadata={"help": "untimed windows per model before the timed ones"})
    data_dir: str = field(default=str(REPO_ROOT.parent / "shared" / "data"), metadata={"help": "like ../shared/data"})
    corpus: str | None = field(
        default=None, metadata={"help": "pre-training text file or folder; default <data_dir>/wikipedia/enwiki-2015-AA/wiki_00"}
    )
    random_data: bool = field(default=False, metadata={"help": "random token ids instead of Wikipedia"})
    memory_steps: int = field(default=2, metadata={"help": "steps of each peak-memory process; 0 skips memory"})
    threads: int | None = field(default=None, metadata={"help": "torch.set_num_threads; default: torch's"})
    peak_sizes: list[int] = field(
        default_factory=lambda: [2048, 4096], metadata={"help": "square matmul sizes tried for the peak; the best counts"}
    )
    profile_ops: int = field(default=0, metadata={"help": "print the N costliest ops of one step of each model"})
    learning_rate: float = 1e-4
    seed: int = 42
    output_dir: str = str(REPO_ROOT / "runs" / "pretrain_throughput")


def check_arguments(args: BenchmarkArguments) -> None:
    """Fail on bad flags before any data is read or model is built."""
    check_presets("--presets", args.presets, conv_free=True)
    check_choices("--dtypes", "dtype", args.dtypes, DTYPES)
    check_at_least(args, ("batch_size", "seq_len", "window_steps", "windows"))
    check_at_least(args, ("warmup_windows", "memory_steps"), minimum=0)
    check_preset_positions("--seq_len", args.seq_len)
    if not (tokenizer_dir(args) / "vocab.txt").exists():
        raise ArgumentError(f"--data_dir: no bert-base-uncased tokenizer at {tokenizer_dir(args)} (vocab.txt)")
    if not args.random_data and not Path(corpus_path(args)).exists():
        raise ArgumentError(f"--corpus: {corpus_path(args)} does not exist (or pass --random_data)")


def tokenizer_dir(args) -> Path:
    return Path(args.data_dir) / "bert-base-uncased"


def corpus_path(args) -> str:
    return args.corpus or str(Path(args.data_dir) / "wikipedia" / "enwiki-2015-AA" / "wiki_00")


def training_sequences(args: BenchmarkArguments, tokenizer):
    """Packed `seq_len`-token sequences (no padding) with input_ids, attention_mask, special_tokens_mask, shuffled
    once (`build_mlm_datasets`)."""
    if args.random_data:  # a plain list of examples: Trainer takes any sized, indexable dataset
        g = torch.Generator().manual_seed(args.seed)
        ids = torch.randint(1000, tokenizer.vocab_size, (4 * args.batch_size, args.seq_len), generator=g)  # no specials
        ids[:, 0], ids[:, -1] = tokenizer.cls_token_id, tokenizer.sep_token_id
        special = [1] + [0] * (args.seq_len - 2) + [1]
        return [
            {"input_ids": row, "attention_mask": [1] * args.seq_len, "special_tokens_mask": special} for row in ids.tolist()
        ]
    from modeling_tlm.data import build_mlm_datasets, load_pretraining_texts

    texts = load_pretraining_texts(corpus_path(args))
    sequences = build_mlm_datasets(texts, tokenizer, max_length=args.seq_len, eval_fraction=0, min_eval_sequences=0)["train"]
    if len(sequences) < args.batch_size:
        raise ValueError(f"--corpus {corpus_path(args)} gives {len(sequences)} sequences, fewer than one batch")
    return sequences


def build_models(preset: str, seed: int) -> dict:
    """TLM and stock BertForMaskedLM with identical weights."""
    torch.manual_seed(seed)
    tlm = TLMForMaskedLM(TLMConfig.from_preset(preset))
    stock = tlm_to_bert(tlm)
    tlm.sparse_prediction = True  # as train_mlm.py trains it
    return {"tlm": tlm, "stock": stock}


def build_trainer(model, sequences, tokenizer, args: BenchmarkArguments, dtype: str, max_steps: int, mask_seed=None):
    # A seeded collator masks the same positions for both models (seeding is refused in a child process: see
    # peak_memory_run, whose masks need not match anything).
    collator = MLMCollator(tokenizer, mlm_probability=0.15, seed=mask_seed)  # train_mlm.py's: no mask when unpadded
    return windowed_trainer(model, sequences, collator, args, max_steps, bf16=dtype == "bf16",
                            remove_unused_columns=False)  # keep special_tokens_mask for the collator (it pops it)


def flops_per_token(model, batch: dict, dtype: str) -> float:
    """Matmul FLOPs of one forward and backward on `batch`, per token (what this implementation executes)."""
    with FlopCounterMode(display=False) as counter, torch.autocast("cpu", torch.bfloat16, enabled=dtype == "bf16"):
        model(**batch).loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / batch["input_ids"].numel()


def peak_memory_run(kind: str, preset: str, dtype: str, args: BenchmarkArguments) -> None:
    """Build one model and train it `args.memory_steps` steps; runs in its own process (see `in_fresh_process`)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir(args))
    sequences = training_sequences(args, tokenizer)
    torch.manual_seed(args.seed)
    config = TLMConfig.from_preset(preset)
    model = TLMForMaskedLM(config) if kind == "tlm" else BertForMaskedLM(tlm_config_to_bert(config))
    if kind == "tlm":
        model.sparse_prediction = True  # as train_mlm.py trains it
    trainer = build_trainer(model, sequences, tokenizer, args, dtype, args.memory_steps)
    reset_peak_memory()  # count the model and its training, not the data preparation before it
    trainer.train()


def compare(preset: str, dtype: str, args: BenchmarkArguments, tokenizer, sequences, peak: float) -> dict:
    """One row of the table: both models trained in alternating windows."""
    models = build_models(preset, args.seed)
    collator = MLMCollator(tokenizer, mlm_probability=0.15, seed=args.seed)
    batch = collator([sequences[i] for i in range(args.batch_size)])
    flops = {name: flops_per_token(model, batch, dtype) for name, model in models.items()}

    total_windows = args.warmup_windows + args.windows
    runs = {
        name: TrainerWindows(
            build_trainer(model, sequences, tokenizer, args, dtype, total_windows * args.window_steps, args.seed),
            args.window_steps,
        )
        for name, model in models.items()
    }
    seconds = interleaved_windows(runs, total_windows)
    losses = {name: run.finish() for name, run in runs.items()}

    tokens = args.window_steps * args.batch_size * args.seq_len
    row = dict(preset=preset, dtype=dtype, steps=total_windows * args.window_steps)
    for name in MODELS:
        timed = seconds[name][args.warmup_windows:]
        row[f"{name}_tokens_per_s"] = median([tokens / s for s in timed])
        row[f"{name}_window_tokens_per_s"] = [round(tokens / s) for s in timed]
        row[f"{name}_mfu"] = row[f"{name}_tokens_per_s"] * flops[name] / peak
        row[f"{name}_gflop_per_token"] = flops[name] / 1e9
        row[f"{name}_loss"] = losses[name][-1]
        row[f"{name}_peak_mib"] = (
            in_fresh_process(peak_memory_run, name, preset, dtype, args)[1] / 2**20 if args.memory_steps else math.nan
        )
    row["ratio"] = row["tlm_tokens_per_s"] / row["stock_tokens_per_s"]
    # Window i of one model ran next to window i of the other: their ratios show how far the machine moved it.
    row["window_ratios"] = [a / b for a, b in zip(row["tlm_window_tokens_per_s"], row["stock_window_tokens_per_s"])]
    row["target"] = TARGET_RATIOS.get((preset, dtype), math.nan)
    if args.profile_ops:  # after timing: the profiled steps change the models, and nothing reads them afterwards
        for name, model in models.items():
            row[f"{name}_profile_ms"] = print_profile(name, model, batch, dtype, args.profile_ops,
                                                      vocab_size=model.config.vocab_size)
    return row


def format_table(rows: list[dict]) -> str:
    header = ["model", "dtype", "TLM tokens/s", "stock tokens/s", "TLM / stock [window range] (target)",
              "MFU TLM / stock", "peak MiB TLM / stock", "loss TLM / stock (step)"]
    return markdown_table(header, [
        [r["preset"], r["dtype"], spread(r["tlm_window_tokens_per_s"]), spread(r["stock_window_tokens_per_s"]),
         ratio_text(r["ratio"], r["window_ratios"], r["target"]), f"{r['tlm_mfu']:.1%} / {r['stock_mfu']:.1%}",
         f"{r['tlm_peak_mib']:,.0f} / {r['stock_peak_mib']:,.0f}",
         f"{r['tlm_loss']:.3f} / {r['stock_loss']:.3f} ({r['steps']})"]
        for r in rows])


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_arguments(BenchmarkArguments, argv, check_arguments)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir(args))
    sequences = training_sequences(args, tokenizer)
    peaks = {dtype: matmul_peak(DTYPES[dtype], shapes=[(n, n, n) for n in args.peak_sizes]) for dtype in args.dtypes}
    print(f"{machine_line()}; measured matmul peak: "
          + ", ".join(f"{d} {p / 1e12:.3f} TFLOP/s" for d, p in peaks.items()), flush=True)
    if "bf16" in peaks and "fp32" in peaks and peaks["bf16"] < peaks["fp32"]:
        print("note: bf16 products are slower than fp32 here: this CPU lacks bf16 matrix hardware (AMX / AVX512-BF16)")
    return print_rows((compare(preset, dtype, args, tokenizer, sequences, peaks[dtype])
                       for preset in args.presets for dtype in args.dtypes), format_table)


if __name__ == "__main__":
    run_cli(main)
