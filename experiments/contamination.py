"""Does any downstream test text appear in a pre-training corpus? Word n-gram overlap, as in GPT-3's check.

For each task, every test text is lower-cased and split into words; a text counts as touched by a corpus when one of
its word n-grams (13 words by default, the length Brown et al. 2020 used) occurs anywhere in that corpus, and as
covered when all of them do (a verbatim or near-verbatim copy). Texts shorter than n words have no n-gram and are
counted apart. The corpora are the Wikipedia pre-training text and, for the tasks with a task-adaptive corpus, the
task's own training texts (`train_mlm.py --dataset_name TASK`). FewRel's test sentences are drawn from its one file
per seed, so every sentence of the file is checked: an upper bound for any seed's test rows.

    python -m experiments.contamination --data_dir ../shared/data --output_dir results/contamination
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from modeling_tlm.training.checks import ArgumentError
from modeling_tlm.training.commands import run_cli

from .cell_io import write_results

WORD = re.compile(r"\w+")
PRIME = np.uint64(1_000_003)  # multiplier of the rolling hash: n-grams of word ids -> one 64-bit number
TASKS = ("ag_news", "dbpedia_14", "fewrel")


class Vocabulary:
    """Word -> id, shared by the corpus and the test texts so that equal words hash alike."""

    def __init__(self):
        self.ids: dict[str, int] = {}

    def encode(self, text: str) -> np.ndarray:
        ids = self.ids
        return np.fromiter((ids.setdefault(w, len(ids) + 1) for w in WORD.findall(text.lower())), dtype=np.uint64)


def ngram_hashes(ids: np.ndarray, n: int) -> np.ndarray:
    """(len(ids) - n + 1,) the hash of every window of n ids (empty when the text is shorter than n)."""
    if len(ids) < n:
        return np.empty(0, dtype=np.uint64)
    h = np.zeros(len(ids) - n + 1, dtype=np.uint64)
    for k in range(n):  # h = sum_k ids[i + k] * PRIME^(n-1-k), wrapping modulo 2^64
        h = h * PRIME + ids[k:len(ids) - n + 1 + k]
    return h


def corpus_ngrams(texts: Iterable[str], vocab: Vocabulary, n: int) -> np.ndarray:
    """The sorted distinct n-gram hashes of a corpus, document by document (no n-gram spans two documents)."""
    parts = [ngram_hashes(vocab.encode(t), n) for t in texts]
    return np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.uint64)


def contains(sorted_hashes: np.ndarray, h: np.ndarray) -> np.ndarray:
    """(len(h),) bool: which of `h` occur in `sorted_hashes` (binary search; np.isin would sort the corpus again
    for every text)."""
    at = np.searchsorted(sorted_hashes, h).clip(max=max(len(sorted_hashes) - 1, 0))
    return sorted_hashes[at] == h if len(sorted_hashes) else np.zeros(len(h), dtype=bool)


def overlap(test_texts: list[str], corpus: np.ndarray, vocab: Vocabulary, n: int) -> dict:
    """How much of the test texts' n-grams the corpus holds: per text (touched, covered) and over all n-grams."""
    touched = covered = short = total = shared = 0
    examples = []
    for text in test_texts:
        h = ngram_hashes(vocab.encode(text), n)
        if not len(h):
            short += 1
            continue
        found = contains(corpus, h)
        total, shared = total + len(h), shared + int(found.sum())
        if found.any():
            touched += 1
            if len(examples) < 3:
                examples.append(text[:200])
        covered += bool(found.all())
    checked = len(test_texts) - short
    return {"test_texts": len(test_texts), "shorter_than_n": short, "touched": touched, "covered": covered,
            "touched_share": touched / checked if checked else 0.0, "covered_share": covered / checked if checked else 0.0,
            "ngrams": total, "ngrams_shared": shared, "ngram_share": shared / total if total else 0.0,
            "examples": examples}


def test_texts(task: str, data_dir: str) -> list[str]:
    """The texts a fine-tuning run of `task` may be tested on, without entity markers (they are not words of the
    sentence)."""
    from modeling_tlm.data import load_task
    from modeling_tlm.data.tasks import ENTITY_MARKERS

    data = load_task(task, data_dir=data_dir)
    splits = ("train", "validation", "test") if task == "fewrel" else ("test",)
    texts = [t for s in splits for t in data.dataset[s]["text"]]
    if task == "fewrel":
        markers = re.compile("|".join(re.escape(m) for m in ENTITY_MARKERS["tokens"]))
        texts = [markers.sub(" ", t) for t in texts]
    return texts


def check(data_dir: str, tasks: tuple[str, ...], n: int) -> dict:
    from modeling_tlm.data import load_pretraining_texts, load_task_texts
    from modeling_tlm.data.tasks import TASK_TEXT_CORPORA

    vocab, rows, started = Vocabulary(), [], time.time()
    tests = {task: test_texts(task, data_dir) for task in tasks}
    corpora = {"wikipedia": lambda: load_pretraining_texts("wikipedia", data_dir=data_dir)["text"]}
    corpora |= {f"{t} training texts": (lambda t=t: load_task_texts(t, data_dir=data_dir)["text"])
                for t in tasks if t in TASK_TEXT_CORPORA}
    for corpus_name, texts in corpora.items():
        documents = texts()
        grams = corpus_ngrams(documents, vocab, n)
        print(f"{corpus_name}: {len(documents):,} documents, {len(grams):,} distinct {n}-grams "
              f"({time.time() - started:.0f} s)", flush=True)
        for task in tasks if corpus_name == "wikipedia" else (corpus_name.split()[0],):
            row = dict(corpus=corpus_name, corpus_documents=len(documents), task=task, n=n,
                       **overlap(tests[task], grams, vocab, n))
            print(f"  {task}: {row['touched']:,} of {row['test_texts']:,} test texts share a {n}-gram "
                  f"({100 * row['touched_share']:.2f}%), {row['covered']:,} wholly covered; "
                  f"{100 * row['ngram_share']:.3f}% of their {n}-grams", flush=True)
            rows.append(row)
    return {"n": n, "rows": rows, "fewrel_texts": "every sentence of the file (an upper bound for any seed's test rows)"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m experiments.contamination", description=__doc__.split("\n\n")[0])
    p.add_argument("--data_dir", required=True, help="a folder laid out like ../shared/data")
    p.add_argument("--output_dir", required=True, help="folder for results.json")
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    p.add_argument("--ngram", type=int, default=13, help="words per n-gram (default 13, as GPT-3's check)")
    args = p.parse_args(argv)
    if args.ngram < 1:
        raise ArgumentError(f"--ngram {args.ngram}: expected a positive number of words")
    if not (Path(args.data_dir) / "wikipedia").is_dir():
        raise ArgumentError(f"--data_dir {args.data_dir}: no wikipedia/ folder in it (the pre-training corpus)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    write_results(args.output_dir, check(args.data_dir, tuple(args.tasks), args.ngram))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
