"""Fine-tuning throughput on this CPU: TLMForSequenceClassification against stock `BertForSequenceClassification`.

Both models start from the same weights (`modeling_tlm.conversion`) and train through the real `Trainer` with the
same `TrainingArguments` on the same AG News batches in the same order, padded per batch to its longest sequence
(`DataCollatorWithPadding`, what train_cls.py does). What differs is the model: TLM computes its last layer at [CLS]
alone (every position still gives keys and values; the logits, loss and gradients are the dense ones, tested).
The Trainers take turns, one window of optimizer steps at a time (A B B A ...; `benchmarks.harness.TrainerWindows`),
and examples/s is the median over the timed windows.

A third column trains stock BERT on the same examples padded to --max_seq_length, as a pipeline that pads every
sequence to 128 tokens would: what dynamic padding alone buys. Its ratio is printed apart, not mixed into the target.

    python -m benchmarks.finetune_throughput                   # bert-1 and bert-6, batch 32, AG News
    python -m benchmarks.finetune_throughput --presets tiny --batch_size 4 --samples_per_label 4 --windows 2 \\
        --warmup_windows 1                                     # seconds
    python -m benchmarks.finetune_throughput --presets bert-6 --windows 2 --profile_ops 12   # where BERT-6's time goes
"""

from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import AutoTokenizer, DataCollatorWithPadding

from benchmarks.harness import (
    TrainerWindows,
    machine_line,
    markdown_table,
    parse_arguments,
    print_profile,
    print_rows,
    ratio_text,
    spread,
    windowed_trainer,
)
from modeling_tlm import TLMConfig, TLMForSequenceClassification
from modeling_tlm.conversion import tlm_to_bert
from modeling_tlm.data import load_task, tokenize_task
from modeling_tlm.timing import interleaved_windows, median
from modeling_tlm.training.checks import ArgumentError, check_at_least, check_preset_positions, check_presets
from modeling_tlm.training.commands import run_cli

REPO_ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIOS = {"bert-1": 3.0, "bert-6": 1.5}  # TLM examples/s over stock's on the same batches
CANDIDATES = ("tlm", "stock", "stock padded")


# Each benchmark declares its own flags, those it shares with the other included: their defaults differ (windows
# sized to each step's cost), and one flat dataclass is what --help lists in order.
@dataclass
class FinetuneBenchmarkArguments:
    presets: list[str] = field(default_factory=lambda: ["bert-1", "bert-6"], metadata={"help": "conv-free TLM presets"})
    batch_size: int = 32
    max_seq_length: int = field(default=128, metadata={"help": "truncation length, and the padded column's width"})
    samples_per_label: int = field(default=100, metadata={"help": "AG News training examples per class (4 classes)"})
    window_steps: int = field(default=2, metadata={"help": "optimizer steps per timed window"})
    windows: int = field(default=4, metadata={"help": "timed windows per model; examples/s is their median"})
    warmup_windows: int = field(default=1, metadata={"help": "untimed windows per model before the timed ones"})
    padded_baseline: bool = field(default=True, metadata={"help": "also time stock BERT on batches padded to --max_seq_length"})
    data_dir: str = field(default=str(REPO_ROOT.parent / "shared" / "data"), metadata={"help": "like ../shared/data"})
    threads: int | None = field(default=None, metadata={"help": "torch.set_num_threads; default: torch's"})
    learning_rate: float = 5e-5
    seed: int = 42
    profile_ops: int = field(default=0, metadata={"help": "print the N costliest ops of one step of TLM and stock"})
    output_dir: str = str(REPO_ROOT / "runs" / "finetune_throughput")


def check_arguments(args: FinetuneBenchmarkArguments) -> None:
    """Fail on bad flags before any data is read or model is built."""
    check_presets("--presets", args.presets, conv_free=True)
    check_at_least(args, ("batch_size", "max_seq_length", "samples_per_label", "window_steps", "windows"))
    check_at_least(args, ("warmup_windows",), minimum=0)
    check_preset_positions("--max_seq_length", args.max_seq_length)
    if not (Path(args.data_dir) / "bert-base-uncased" / "vocab.txt").exists():
        raise ArgumentError(f"--data_dir: no bert-base-uncased tokenizer at {args.data_dir}/bert-base-uncased")
    if not (Path(args.data_dir) / "ag_news" / "train.csv").exists():
        raise ArgumentError(f"--data_dir: no AG News at {args.data_dir}/ag_news/train.csv")
    needed = (args.warmup_windows + args.windows) * args.window_steps * args.batch_size
    if 4 * args.samples_per_label < needed:
        raise ArgumentError(f"--samples_per_label {args.samples_per_label} gives {4 * args.samples_per_label} examples, "
                         f"fewer than the {needed} the windows read (no example is read twice)")


def training_examples(args: FinetuneBenchmarkArguments, tokenizer):
    """AG News training examples, tokenized and truncated to --max_seq_length, not padded, shuffled once."""
    task = load_task("ag_news", data_dir=args.data_dir, samples_per_label_train=args.samples_per_label,
                     samples_per_label_test=1, seed=args.seed)
    return tokenize_task(task, tokenizer, args.max_seq_length)["train"].shuffle(seed=args.seed)


def build_models(preset: str, num_labels: int, seed: int) -> dict:
    """TLM and stock BertForSequenceClassification with identical weights (the stock one twice: dynamic and padded)."""
    torch.manual_seed(seed)
    tlm = TLMForSequenceClassification(TLMConfig.from_preset(preset, num_labels=num_labels))
    return {"tlm": tlm, "stock": tlm_to_bert(tlm), "stock padded": tlm_to_bert(tlm)}


def build_trainer(model, examples, tokenizer, args: FinetuneBenchmarkArguments, max_steps: int, padded: bool):
    collator = DataCollatorWithPadding(tokenizer, padding="max_length" if padded else "longest",
                                       max_length=args.max_seq_length if padded else None)
    return windowed_trainer(model, examples, collator, args, max_steps)


def compare(preset: str, args: FinetuneBenchmarkArguments, tokenizer, examples) -> dict:
    """One row: every candidate trained in alternating windows on the same batches."""
    models = build_models(preset, num_labels=4, seed=args.seed)
    if not args.padded_baseline:
        del models["stock padded"]
    total_windows = args.warmup_windows + args.windows
    runs = {
        name: TrainerWindows(build_trainer(model, examples, tokenizer, args, total_windows * args.window_steps,
                                           padded=name == "stock padded"), args.window_steps)
        for name, model in models.items()
    }
    seconds = interleaved_windows(runs, total_windows)
    losses = {name: run.finish() for name, run in runs.items()}
    examples_per_window = args.window_steps * args.batch_size
    row = dict(preset=preset, steps=total_windows * args.window_steps)
    for name in models:
        timed = seconds[name][args.warmup_windows:]
        row[f"{name} examples/s"] = [examples_per_window / s for s in timed]
        row[f"{name} loss"] = losses[name][-1]
    row["ratio"] = median(row["tlm examples/s"]) / median(row["stock examples/s"])
    row["window ratios"] = [a / b for a, b in zip(row["tlm examples/s"], row["stock examples/s"])]
    if args.padded_baseline:
        row["padding ratio"] = median(row["stock examples/s"]) / median(row["stock padded examples/s"])
    row["target"] = TARGET_RATIOS.get(preset)
    if args.profile_ops:  # after timing: the profiled steps change the models, and nothing reads them afterwards
        # the first batch both models trained on (the examples are read in order), padded to its longest
        batch = dict(DataCollatorWithPadding(tokenizer)([examples[i] for i in range(args.batch_size)]))
        for name in ("tlm", "stock"):
            row[f"{name} profile ms"] = print_profile(name, models[name], batch, "fp32", args.profile_ops)
    return row


def format_table(rows: list[dict]) -> str:
    header = ["model", "TLM examples/s", "stock examples/s", "TLM / stock [window range] (target)",
              "stock padded to max examples/s", "dynamic / padded (stock)", "loss TLM / stock (step)"]
    return markdown_table(header, [
        [r["preset"], spread(r["tlm examples/s"]), spread(r["stock examples/s"]),
         ratio_text(r["ratio"], r["window ratios"], r["target"]),
         *([spread(r["stock padded examples/s"]), f"{r['padding ratio']:.2f}x"] if "padding ratio" in r
           else ["not run", ""]),
         f"{r['tlm loss']:.3f} / {r['stock loss']:.3f} ({r['steps']})"]
        for r in rows])


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_arguments(FinetuneBenchmarkArguments, argv, check_arguments)
    tokenizer = AutoTokenizer.from_pretrained(Path(args.data_dir) / "bert-base-uncased")
    examples = training_examples(args, tokenizer)
    lengths = sorted(len(ids) for ids in examples["input_ids"])
    print(f"{machine_line()}; AG News: {len(examples)} examples, median length {lengths[len(lengths) // 2]} tokens "
          f"(truncated to {args.max_seq_length})", flush=True)
    return print_rows((compare(preset, args, tokenizer, examples) for preset in args.presets), format_table)


if __name__ == "__main__":
    run_cli(main)
