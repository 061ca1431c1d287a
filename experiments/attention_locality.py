"""How local each attention head of pre-trained MLM checkpoints is: the mean attention mass a query puts on the
keys at offsets -2..+2 from itself, on held-out packed sequences (train_mlm.py's own held-out split, unmasked).

A head that attends to its neighbours (offsets -1, 0, +1) uses word order; one that spreads its mass evenly over 128
keys (about 0.008 per key) only sees a bag of words. The recipe's learning curve shows its loss dropping from a
plateau between 30 and 60 minutes; this says what the model learned there.

    python -m experiments.attention_locality --checkpoints runs/experiments/recipe/pt-30m \
        runs/experiments/recipe/pt-60m --data_dir ../shared/data --output_dir runs/attention_locality
"""

from __future__ import annotations

import argparse
from pathlib import Path

from modeling_tlm.training.checks import check_checkpoint_folder
from modeling_tlm.training.commands import run_cli

from .cell_io import write_results

OFFSETS = (-2, -1, 0, 1, 2)
EDGE = 8  # queries this close to either end are left out, so every offset exists for every query


def head_locality(attentions) -> list[list[dict[int, float]]]:
    """Per layer, per head: {offset: mean attention mass on the key at query position + offset}, over the batch and
    the interior queries. `attentions`: per layer (B, heads, T, T)."""
    import torch

    out = []
    for probs in attentions:
        seq_len = probs.shape[-1]
        queries = torch.arange(EDGE, seq_len - EDGE)
        out.append([{off: float(probs[:, h, queries, queries + off].mean()) for off in OFFSETS}
                    for h in range(probs.shape[1])])
    return out


def main(argv: list[str] | None = None) -> dict:
    import torch

    from modeling_tlm import TLMForMaskedLM
    from modeling_tlm.data import build_mlm_datasets, load_pretraining_texts, load_tokenizer

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoints", nargs="+", required=True, help="pre-trained TLMForMaskedLM folders")
    p.add_argument("--data_dir", default=None)
    p.add_argument("--source", default="wikipedia", help="'wikipedia' or a file/folder (train_mlm.py's --train_file)")
    p.add_argument("--sequences", type=int, default=64, help="held-out sequences to average over")
    p.add_argument("--max_length", type=int, default=128)
    p.add_argument("--seed", type=int, default=42, help="train_mlm.py's --seed: which sequences are held out")
    p.add_argument("--output_dir", required=True)
    args = p.parse_args(argv)
    for path in args.checkpoints:
        check_checkpoint_folder(path, "--checkpoints")

    texts = load_pretraining_texts(args.source, data_dir=args.data_dir)
    rows = {}
    for path in args.checkpoints:
        tokenizer = load_tokenizer(path)
        held_out = build_mlm_datasets(texts, tokenizer, max_length=args.max_length, seed=args.seed)["validation"]
        ids = torch.tensor(held_out.select(range(min(args.sequences, len(held_out))))["input_ids"])  # (B, T)
        model = TLMForMaskedLM.from_pretrained(path).eval()
        with torch.no_grad():
            attentions = model(ids, output_attentions=True).attentions
        heads = head_locality(attentions)
        rows[Path(path).name] = heads
        for layer, per_head in enumerate(heads):
            for head, mass in enumerate(per_head):
                local = sum(mass[o] for o in (-1, 0, 1))
                print(f"{Path(path).name} layer {layer} head {head}: mass within ±1 {local:.2f} ("
                      + ", ".join(f"{o:+d}: {m:.3f}" for o, m in mass.items()) + ")")
    write_results(args.output_dir, {"script": "experiments.attention_locality", "sequences": len(ids),
                                    "offsets": list(OFFSETS), "checkpoints": rows})
    return rows


if __name__ == "__main__":
    run_cli(main)
