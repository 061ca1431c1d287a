"""The no-context reference for a masked-LM loss: the cross-entropy of the pre-training set's unigram distribution on
the held-out sequences train_mlm.py evaluates on (same corpus, tokenizer, sequence mode, size and seed).

A model whose held-out MLM loss is close to this has learned token frequencies and little context. Masked positions
are a uniform 15% sample of the non-special tokens, so the unigram distribution is the right baseline for them.

    python -m experiments.unigram --data_dir ../shared/data --tokenizer_name ../shared/data/bert-base-uncased \
        --sequence_mode article_head --max_length 64 --pre_train_size 1000 4000 --output_dir runs/unigram
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from modeling_tlm.training.commands import run_cli

from .cell_io import write_results


def main(argv: list[str] | None = None) -> dict:
    from modeling_tlm.data import (
        build_mlm_datasets,
        load_pretraining_texts,
        load_tokenizer,
        special_token_ids,
    )
    from modeling_tlm.data.overlap import token_counts, unigram_cross_entropy

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data_dir", default=None)
    p.add_argument("--source", default="wikipedia", help="'wikipedia' or a file/folder (train_mlm.py's --train_file)")
    p.add_argument("--tokenizer_name", required=True)
    p.add_argument("--sequence_mode", default="packed")
    p.add_argument("--max_length", type=int, default=128)
    p.add_argument("--pre_train_size", type=int, nargs="+", required=True)
    p.add_argument("--validation_split_percentage", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--output_dir", required=True)
    args = p.parse_args(argv)

    tokenizer = load_tokenizer(args.tokenizer_name)
    special = special_token_ids(tokenizer)
    texts = load_pretraining_texts(args.source, data_dir=args.data_dir)
    rows = {}
    for size in args.pre_train_size:
        mlm = build_mlm_datasets(texts, tokenizer, max_length=args.max_length, sequence_mode=args.sequence_mode,
                                 pre_train_size=size, eval_fraction=args.validation_split_percentage / 100,
                                 seed=args.seed)
        train, held_out = (token_counts(mlm[split], special_ids=special) for split in ("train", "validation"))
        nll = unigram_cross_entropy(train, held_out, len(tokenizer))  # counts in, counts reused below
        total, n = sum(train.values()), sum(held_out.values())
        rows[str(size)] = {"unigram_cross_entropy": nll, "unigram_perplexity": float(np.exp(nll)),
                           "train_tokens": total, "held_out_tokens": n}
        print(f"{size}: unigram cross-entropy {nll:.3f} nats (perplexity {math.exp(nll):.0f}) on {n} tokens")
    write_results(args.output_dir, {"script": "experiments.unigram", "sizes": rows})
    return rows


if __name__ == "__main__":
    run_cli(main)
