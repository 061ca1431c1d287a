"""Ship a grid's pre-trained model so a user can skip pre-training: `python -m experiments.ship --grid tapt-runs
--cell pt-base-p1 --output_dir checkpoints/tlm-alibi-8k-wikipedia`.

Copies what `from_pretrained` and the Hub need from the cell's output folder (config, safetensors weights, tokenizer,
the model code for `trust_remote_code`, the card train_mlm.py wrote) and adds to the card what the grid measured
with it: the test accuracy of its fine-tuning runs per setting (mean over seeds) in the card's model-index, and a
table of them beside the from-scratch twin and TF-IDF on the same samples. Nothing is trained here; the weights are
the cell's, unchanged.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from modeling_tlm.training.checks import ArgumentError
from modeling_tlm.training.commands import run_cli

from .grids import get_grid
from .report import load_cells, pct, trained_per_class

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
           "vocab.txt", "configuration_tlm.py", "modeling_tlm.py", "README.md")
HUB_DATASETS = {"ag_news": ("fancyzhx/ag_news", "AG News"), "dbpedia_14": ("fancyzhx/dbpedia_14", "DBpedia-14"),
                "fewrel": ("thunlp/few_rel", "FewRel")}


def pretraining_record(results_dir: Path, grid: str, cell: str) -> dict:
    path = results_dir / grid / f"{cell}.json"
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ArgumentError(f"{path}: no finished record of cell {cell!r} ({e}); run `python -m experiments.run "
                            f"--grid {grid} --only '^{cell}$'` first") from None
    if record.get("kind") != "pretrain" or record.get("status") != "done":
        raise ArgumentError(f"{path}: expected a finished pre-training cell, found kind={record.get('kind')!r} "
                            f"status={record.get('status')!r}")
    return record


def checkpoint_folder(record: dict) -> Path:
    argv = record["argv"]
    folder = ROOT / argv[argv.index("--output_dir") + 1]
    if not (folder / "model.safetensors").exists():
        raise ArgumentError(f"{folder}: no model.safetensors; the checkpoint is gone from this machine (runs/ is not "
                            f"kept). Rerun its cell: `python -m experiments.run --grid {record['grid']} --only "
                            f"'^{record['id']}$'` regenerates it from the same command")
    return folder


def downstream(results_dir: Path, grid_name: str, cell: str) -> list[dict]:
    """Per setting, the test accuracies ({seed: accuracy}) of the grid's fine-tuning runs of `cell`, and of the twin
    and TF-IDF on the same samples (from the grid the runs add to, where the grid has no controls of its own)."""
    grid = get_grid(grid_name)
    cells = load_cells(results_dir, grid_name)
    controls = cells + (load_cells(results_dir, grid.runs_of) if getattr(grid, "runs_of", None) else [])
    mine = [c for c in cells if c["kind"] == "finetune" and c["deps"] == [cell]]

    def accuracies(records, setting):
        return {c["meta"]["seed"]: c["results"]["test_accuracy"] for c in records if c["meta"]["setting"] == setting}

    out = []
    for setting in dict.fromkeys(c["meta"]["setting"] for c in mine):
        first = next(c for c in mine if c["meta"]["setting"] == setting)
        out.append(dict(setting=setting, task=first["meta"]["task"], command=first["command"],
                        model=accuracies(mine, setting),
                        scratch=accuracies([c for c in controls if c["meta"].get("model") == "scratch"], setting),
                        tfidf=accuracies([c for c in controls if c["kind"] == "tfidf"], setting),
                        trained=trained_per_class(mine, lambda m, s=setting: m["setting"] == s)))
    return out


def add_results_to_card(card_path: Path, rows: list[dict], record: dict, name: str) -> None:
    """The card under the shipped name, with the fine-tuning results in its model-index (mean test accuracy per
    setting) and as a table."""
    from huggingface_hub import EvalResult, ModelCard

    card = ModelCard.load(card_path)
    card.data.model_name = name
    card.text = card.text.replace(f"# {record['id']}\n", f"# {name}\n", 1)
    results = list(card.data.eval_results or [])
    lines = ["## Fine-tuned on downstream tasks", "",
             f"Measured by the `{record['grid']}` grid (`experiments/`), test accuracy in %, mean ± sd over "
             "fine-tuning seeds; the from-scratch twin and TF-IDF + logistic regression were trained on the same "
             "labelled samples.", "",
             "| task | labelled data | this model | from scratch | TF-IDF + LR | seeds |", "| --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        hub_id, name = HUB_DATASETS.get(row["task"], (row["task"], row["task"]))
        per_label = row["setting"].rsplit("-", 1)[1]
        results.append(EvalResult(task_type="text-classification", dataset_type=hub_id,
                                  dataset_name=f"{name} ({per_label} labelled examples per class)", dataset_split="test",
                                  metric_type="accuracy", metric_value=round(float(np.mean(list(row["model"].values()))), 4)))
        lines.append(f"| {name} | {row['trained']} | {pct(row['model'].values())} | {pct(row['scratch'].values())} | "
                     f"{pct(row['tfidf'].values())} | {', '.join(map(str, sorted(row['model'])))} |")
    lines += ["", "One of the fine-tuning commands (the others differ in `--seed` and `--data_sampling_seed`):", "",
              f"```bash\n{rows[0]['command']}\n```" if rows else "", "",
              f"Pre-training: cell `{record['id']}` of grid `{record['grid']}`, on {record['machine'].get('cpu', '?')} "
              f"(family/model {record['machine'].get('cpu_family_model', '?')}), code {record['code_version']}, "
              f"{record['duration_s'] / 60:.0f} minutes."]
    card.data.eval_results = results
    card.text = card.text.rstrip() + "\n\n" + "\n".join(lines) + "\n"
    card.save(card_path)


def ship(results_dir: Path, grid: str, cell: str, output_dir: Path) -> Path:
    record = pretraining_record(results_dir, grid, cell)
    source = checkpoint_folder(record)
    rows = downstream(results_dir, grid, cell)
    output_dir.mkdir(parents=True, exist_ok=True)
    for name in SHIPPED:
        if (source / name).exists():
            shutil.copy2(source / name, output_dir / name)
    add_results_to_card(output_dir / "README.md", rows, record, output_dir.name)
    return output_dir


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m experiments.ship", description=__doc__.split("\n\n")[0])
    p.add_argument("--grid", required=True)
    p.add_argument("--cell", required=True, help="a finished pre-training cell of the grid, e.g. pt-base-p1")
    p.add_argument("--output_dir", required=True, help="the folder to ship, e.g. checkpoints/NAME")
    p.add_argument("--results_dir", default="results")
    args = p.parse_args(argv)
    try:
        get_grid(args.grid)
    except ValueError as e:
        raise ArgumentError(f"--grid: {e}") from None
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = ship(ROOT / args.results_dir, args.grid, args.cell, ROOT / args.output_dir)
    print(f"shipped {args.grid}/{args.cell} to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
