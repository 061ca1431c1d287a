"""The data commands: `python -m modeling_tlm.data {sequences,tokenizer,overlap} --help`.

    python -m modeling_tlm.data sequences --data_dir ../shared/data --tokenizer_name ../shared/data/bert-base-uncased
    python -m modeling_tlm.data tokenizer --data_dir ../shared/data --vocab_size 8192 --output_dir runs/wordpiece-8k
    python -m modeling_tlm.data overlap --data_dir ../shared/data --tokenizer_name ../shared/data/bert-base-uncased \\
        --pre_train_size 40000 --task_name ag_news dbpedia_14 fewrel [--min_count 1 10] [--json overlap.json]

Bad input (a missing file, an unknown task) ends with `error: ...` and exit status 2, as in the training scripts.
"""

import argparse
import json
import sys
import time

from ..training.commands import run_cli
from .corpus import SEQUENCE_MODES, build_mlm_datasets, load_pretraining_texts
from .overlap import token_counts, token_overlap
from .tasks import TASK_DEFAULTS, load_task, tokenize_task
from .tokenization import load_tokenizer, special_token_ids, train_wordpiece_tokenizer


def add_corpus_arguments(p: argparse.ArgumentParser) -> None:
    """Where the pre-training texts come from and how they become sequences (shared by `sequences` and `overlap`)."""
    p.add_argument("--source", default="wikipedia", help="'wikipedia' or a file/folder path")
    p.add_argument("--data_dir", default=None, help="local data folder laid out like ../shared/data (else the Hub)")
    p.add_argument("--tokenizer_name", default="bert-base-uncased", help="Hub id or tokenizer folder")
    p.add_argument("--max_length", type=int, default=128)
    p.add_argument("--sequence_mode", choices=SEQUENCE_MODES, default="packed")
    p.add_argument("--pre_train_size", type=int, default=None, help="training sequences (default: all)")
    p.add_argument("--eval_fraction", type=float, default=0.01, help="as in build_mlm_datasets")
    p.add_argument("--min_eval_sequences", type=int, default=256, help="as in build_mlm_datasets")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--num_proc", type=int, default=None)


def build_sequences(args, tokenizer, text_column: str = "text"):
    texts = load_pretraining_texts(args.source, data_dir=args.data_dir, text_column=text_column,
                                   num_proc=args.num_proc)
    return texts, build_mlm_datasets(
        texts, tokenizer, max_length=args.max_length, sequence_mode=args.sequence_mode,
        pre_train_size=args.pre_train_size, eval_fraction=args.eval_fraction,
        min_eval_sequences=args.min_eval_sequences, seed=args.seed, num_proc=args.num_proc,
    )


def sequences(args) -> None:
    """Build the MLM pre-training sequences and report counts and timings."""
    start = time.perf_counter()
    texts, dd = build_sequences(args, load_tokenizer(args.tokenizer_name), args.text_column)
    done = time.perf_counter()
    n_train, n_val = len(dd["train"]), len(dd["validation"])
    print(f"documents: {len(texts)}")
    print(f"sequences of {args.max_length} tokens ({args.sequence_mode}): {n_train + n_val} "
          f"(train {n_train}, validation {n_val})")
    print(f"time: {done - start:.1f} s")


def tokenizer(args) -> None:
    """Train a WordPiece tokenizer on the pre-training corpus."""
    texts = load_pretraining_texts(args.source, data_dir=args.data_dir, text_column=args.text_column)
    tok = train_wordpiece_tokenizer(texts, args.vocab_size, args.output_dir, lowercase=not args.cased,
                                    min_frequency=args.min_frequency)
    print(f"saved a WordPiece tokenizer with {len(tok)} tokens to {args.output_dir}")


def overlap(args) -> list[dict]:
    """A per-task overlap table between the pre-training sequences and each task."""
    tok = load_tokenizer(args.tokenizer_name)
    _, mlm = build_sequences(args, tok)
    pre = token_counts(mlm["train"], special_ids=special_token_ids(tok))
    rows = []
    for name in args.task_name:
        sizes = TASK_DEFAULTS.get(name, {}) if args.paper_sizes else {}
        task = load_task(name, data_dir=args.data_dir, seed=args.seed, **sizes)
        tokenized = tokenize_task(task, tok, max_length=args.max_length, num_proc=args.num_proc)
        splits = tokenized if args.task_split == "all" else tokenized[args.task_split]
        task_counts = token_counts(splits, special_ids=special_token_ids(tok))  # after markers were added
        for m in args.min_count:
            rows.append({"task": name, "split": args.task_split, **token_overlap(pre, task_counts, min_count=m)})
    if args.json == "-":
        json.dump(rows, sys.stdout, indent=2)
        print()
        return rows
    print(f"pre-training: {len(mlm['train'])} sequences of {args.max_length} tokens ({args.sequence_mode}), "
          f"{rows[0]['pretrain_tokens'] if rows else 0} tokens, {rows[0]['pretrain_types'] if rows else 0} types")
    print(f"{'task':<12} {'split':<10} {'min_count':>9} {'tokens':>10} {'types':>7} {'token_share':>11} "
          f"{'type_share':>10}")
    for r in rows:
        print(f"{r['task']:<12} {r['split']:<10} {r['min_count']:>9} {r['task_tokens']:>10} {r['task_types']:>7} "
              f"{r['token_share']:>11.4f} {r['type_share']:>10.4f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=2)
    return rows


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m modeling_tlm.data", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("sequences", help=sequences.__doc__)
    add_corpus_arguments(p)
    p.add_argument("--text_column", default="text")
    p.set_defaults(run=sequences)

    p = commands.add_parser("tokenizer", help=tokenizer.__doc__)
    p.add_argument("--source", default="wikipedia", help="'wikipedia' or a file/folder of texts")
    p.add_argument("--data_dir", default=None, help="local data folder laid out like ../shared/data")
    p.add_argument("--text_column", default="text")
    p.add_argument("--vocab_size", type=int, required=True)
    p.add_argument("--output_dir", required=True)
    p.add_argument("--cased", action="store_true", help="keep case (default: lowercase, like bert-base-uncased)")
    p.add_argument("--min_frequency", type=int, default=2)
    p.set_defaults(run=tokenizer)

    p = commands.add_parser("overlap", help=overlap.__doc__)
    add_corpus_arguments(p)
    p.add_argument("--task_name", nargs="+", default=list(TASK_DEFAULTS))
    p.add_argument("--task_split", default="all", help="train, validation, test or all (default)")
    p.add_argument("--paper_sizes", action="store_true", help="sample tasks with TASK_DEFAULTS (default: all rows)")
    p.add_argument("--min_count", type=int, nargs="+", default=[1])
    p.add_argument("--json", default=None, help="also write the rows as JSON to this file ('-' for stdout only)")
    p.set_defaults(run=overlap)
    return parser


def main(argv: list[str] | None = None):
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    run_cli(main)
