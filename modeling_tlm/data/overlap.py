"""Token overlap between a pre-training corpus and a task, under one tokenizer.

The paper links the size of the pre-training gain to how much of a task's vocabulary the pre-training corpus covers.
For a task we report, with special tokens left out on both sides:
  * token_share: the share of the task's token occurrences whose token occurs >= min_count times in pre-training;
  * type_share: the same over the task's distinct tokens (types).

Command line (one row per task and threshold)::

    python -m modeling_tlm.data.overlap --data_dir ../shared/data --tokenizer_name ../shared/data/bert-base-uncased \\
        --pre_train_size 40000 --task_name ag_news dbpedia_14 fewrel [--min_count 1 10] [--json overlap.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any, Iterable, Mapping

import numpy as np
import pyarrow.compute as pc
from datasets import Dataset, DatasetDict, IterableDataset

from .common import DataError


def token_counts(source: Any, *, special_ids: Iterable[int] | None = None) -> Counter:
    """Occurrences of each token id in `source`, without special tokens.

    `source`: a Dataset / IterableDataset / DatasetDict (all splits) with an `input_ids` column (positions flagged in
    a `special_tokens_mask` column are left out), a mapping id -> count (returned as is, minus `special_ids`), or an
    iterable of id sequences. `special_ids`: ids to leave out everywhere (e.g. `special_token_ids(tokenizer)`).
    """
    skip = np.fromiter(set(special_ids or ()), dtype=np.int64)
    if isinstance(source, Mapping) and not isinstance(source, DatasetDict):
        return Counter({int(t): int(c) for t, c in source.items() if int(t) not in set(skip.tolist())})
    totals = np.zeros(0, dtype=np.int64)

    def add(ids: np.ndarray) -> None:
        nonlocal totals
        ids = ids[~np.isin(ids, skip)] if skip.size else ids
        if ids.size and ids.min() < 0:
            raise DataError(f"token ids must be non-negative; found {int(ids.min())}")
        counts = np.bincount(ids)
        if len(counts) > len(totals):
            totals = np.pad(totals, (0, len(counts) - len(totals)))
        totals[: len(counts)] += counts

    for ids in _id_batches(source):
        add(ids)
    return Counter({int(t): int(totals[t]) for t in np.flatnonzero(totals)})


def unigram_cross_entropy(train: Any, held_out: Any, vocab_size: int, *,
                          special_ids: Iterable[int] | None = None) -> float:
    """Nats per token of `held_out` under `train`'s unigram distribution (add-one smoothed over `vocab_size`).
    Either may be anything `token_counts` takes, including counts already made.

    The no-context reference for a masked-LM loss: masked positions are a uniform sample of the non-special tokens,
    so a model that has learned token frequencies and nothing else scores about this; learning context goes below it.
    """
    train_counts = token_counts(train, special_ids=special_ids)
    held_out_counts = token_counts(held_out, special_ids=special_ids)
    total, n = sum(train_counts.values()), sum(held_out_counts.values())
    if n == 0:
        raise DataError("the held-out sequences hold no (non-special) tokens")
    nll = sum(c * -np.log((train_counts.get(t, 0) + 1) / (total + vocab_size)) for t, c in held_out_counts.items())
    return float(nll / n)


def _id_batches(source: Any) -> Iterable[np.ndarray]:
    """Flat arrays of the non-special token ids of `source`, batch by batch."""
    if isinstance(source, DatasetDict):
        for ds in source.values():
            yield from _id_batches(ds)
        return
    if isinstance(source, (Dataset, IterableDataset)):
        if "input_ids" not in (source.column_names or ["input_ids"]):
            raise DataError(f"the dataset has no 'input_ids' column (columns: {source.column_names}); "
                            "tokenize it first")
        cols = [c for c in ("input_ids", "special_tokens_mask") if c in (source.column_names or ["input_ids"])]
        for batch in source.select_columns(cols).with_format("arrow").iter(batch_size=10_000):
            ids = pc.list_flatten(batch["input_ids"]).to_numpy(zero_copy_only=False).astype(np.int64)
            if "special_tokens_mask" in cols:
                ids = ids[pc.list_flatten(batch["special_tokens_mask"]).to_numpy(zero_copy_only=False) == 0]
            yield ids
        return
    if isinstance(source, (str, bytes)):
        raise DataError("expected token ids (a tokenized dataset, a mapping id -> count, or sequences of ids)")
    for seq in source:
        yield np.asarray(list(seq), dtype=np.int64)


def token_overlap(
    pretrain_input_ids_or_dataset: Any,
    task_dataset_or_ids: Any,
    *,
    min_count: int = 1,
    special_ids: Iterable[int] | None = None,
) -> dict[str, Any]:
    """Overlap between pre-training tokens and a task's tokens (either side: anything `token_counts` accepts, e.g.
    the `train` split of `build_mlm_datasets`, a `tokenize_task` DatasetDict, or precomputed counts).

    Returns token_share, type_share (0..1; None if the task has no tokens), task_tokens, task_types, covered_tokens,
    covered_types, pretrain_tokens, pretrain_types, min_count.
    """
    if min_count < 1:
        raise DataError(f"min_count={min_count}; expected an integer >= 1")
    pre = token_counts(pretrain_input_ids_or_dataset, special_ids=special_ids)
    task = token_counts(task_dataset_or_ids, special_ids=special_ids)
    covered = {t for t in task if pre.get(t, 0) >= min_count}
    task_tokens, covered_tokens = sum(task.values()), sum(task[t] for t in covered)
    return {
        "token_share": covered_tokens / task_tokens if task_tokens else None,
        "type_share": len(covered) / len(task) if task else None,
        "task_tokens": task_tokens,
        "task_types": len(task),
        "covered_tokens": covered_tokens,
        "covered_types": len(covered),
        "pretrain_tokens": sum(pre.values()),
        "pretrain_types": len(pre),
        "min_count": min_count,
    }


def main(argv: list[str] | None = None) -> list[dict]:
    """Command line: a per-task overlap table between the pre-training sequences and each task."""
    from .corpus import SEQUENCE_MODES, build_mlm_datasets, load_pretraining_texts
    from .tasks import TASK_DEFAULTS, load_task, tokenize_task
    from .tokenization import load_tokenizer, special_token_ids

    p = argparse.ArgumentParser(description="Token overlap between the pre-training corpus and classification tasks.")
    p.add_argument("--data_dir", default=None, help="local data folder laid out like ../shared/data (else the Hub)")
    p.add_argument("--source", default="wikipedia", help="pre-training corpus: 'wikipedia' or a file/folder")
    p.add_argument("--tokenizer_name", default="bert-base-uncased")
    p.add_argument("--pre_train_size", type=int, default=None, help="training sequences (default: all)")
    p.add_argument("--sequence_mode", choices=SEQUENCE_MODES, default="packed")
    p.add_argument("--max_length", type=int, default=128)
    p.add_argument("--eval_fraction", type=float, default=0.01, help="as in build_mlm_datasets")
    p.add_argument("--min_eval_sequences", type=int, default=256, help="as in build_mlm_datasets")
    p.add_argument("--task_name", nargs="+", default=list(TASK_DEFAULTS))
    p.add_argument("--task_split", default="all", help="train, validation, test or all (default)")
    p.add_argument("--paper_sizes", action="store_true", help="sample tasks with TASK_DEFAULTS (default: all rows)")
    p.add_argument("--min_count", type=int, nargs="+", default=[1])
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--num_proc", type=int, default=None)
    p.add_argument("--json", default=None, help="also write the rows as JSON to this file ('-' for stdout only)")
    args = p.parse_args(argv)

    tokenizer = load_tokenizer(args.tokenizer_name)
    texts = load_pretraining_texts(args.source, data_dir=args.data_dir)
    mlm = build_mlm_datasets(texts, tokenizer, max_length=args.max_length, sequence_mode=args.sequence_mode,
                             pre_train_size=args.pre_train_size, eval_fraction=args.eval_fraction,
                             min_eval_sequences=args.min_eval_sequences, seed=args.seed, num_proc=args.num_proc)
    pre = token_counts(mlm["train"], special_ids=special_token_ids(tokenizer))
    rows = []
    for name in args.task_name:
        sizes = TASK_DEFAULTS.get(name, {}) if args.paper_sizes else {}
        task = load_task(name, data_dir=args.data_dir, seed=args.seed, **sizes)
        tokenized = tokenize_task(task, tokenizer, max_length=args.max_length, num_proc=args.num_proc)
        splits = tokenized if args.task_split == "all" else tokenized[args.task_split]
        task_counts = token_counts(splits, special_ids=special_token_ids(tokenizer))  # after markers were added
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


if __name__ == "__main__":
    main()
