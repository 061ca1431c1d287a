"""Token overlap between a pre-training corpus and a task, under one tokenizer.

The paper links the size of the pre-training gain to how much of a task's vocabulary the pre-training corpus covers.
For a task we report, with special tokens left out on both sides:
  * token_share: the share of the task's token occurrences whose token occurs >= min_count times in pre-training;
  * type_share: the same over the task's distinct tokens (types).

Command line (one row per task and threshold)::

    python -m modeling_tlm.data overlap --data_dir ../shared/data --tokenizer_name ../shared/data/bert-base-uncased \\
        --pre_train_size 40000 --task_name ag_news dbpedia_14 fewrel [--min_count 1 10] [--json overlap.json]
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Mapping

import numpy as np
import pyarrow.compute as pc
from datasets import Dataset, DatasetDict, IterableDataset

from .loading import DataError


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
