"""The `tapt` grid's section of RESULTS.md: task-adaptive pre-training against more Wikipedia steps, the
from-scratch twin and TF-IDF (`python -m experiments.report --grid tapt` regenerates RESULTS.md with it)."""

from __future__ import annotations

from pathlib import Path

from .report import ci_text, load_cells, pct, table
from .stats import t_interval
from .tapt_grid import TAPT, TaptGrid, accuracies

MODEL_NAMES = {"base": "base (Wikipedia)", "wiki": "base + more Wikipedia", "scratch": "from scratch"}
# (what is compared, the model, what it is compared with): each a paired gain over the seeds
COMPARISONS = (("pre-training pays off", "base", "scratch"), ("the task's text beyond more steps", "tapt", "wiki"),
               ("task-adaptive over the base", "tapt", "base"), ("base against TF-IDF", "base", "tfidf"),
               ("task-adaptive against TF-IDF", "tapt", "tfidf"))


def _model_name(model: str) -> str:
    return MODEL_NAMES.get(model, f"base + {model.removeprefix('tapt-')} training texts (task-adaptive)")


def _pretraining_rows(cells: list[dict]) -> list[list[str]]:
    rows = []
    for c in sorted((c for c in cells if c["kind"] == "pretrain"), key=lambda c: c["id"]):
        r = c["results"]
        ev, steps = r["eval"], r["train"]["global_step"]
        tokens, runtime = ev["num_input_tokens_seen"], r["train"]["train_runtime"]
        rows.append([_model_name(c["meta"]["model"]), c["meta"]["corpus"], f"{r['data']['training sequences']:,}",
                     f"{steps:,}", f"{tokens / 1e6:.1f}M", f"{tokens / runtime:,.0f}", f"{ev['eval_loss']:.3f}",
                     f"{ev['eval_unigram_cross_entropy']:.3f}",
                     f"{ev['eval_unigram_cross_entropy'] - ev['eval_loss']:.2f}", f"{c['duration_s'] / 60:.1f}"])
    return rows


def _per_label(cells: list[dict], setting: str) -> str:
    """The labelled examples per class a fine-tuning run trained on, after the validation slice."""
    sizes = {(c["results"]["data_sizes"]["train"], c["results"]["data_sizes"]["validation"], c["results"]["num_labels"])
             for c in cells if c["kind"] == "finetune" and c["meta"]["setting"] == setting}
    return "; ".join(f"{t // k} per class trained on, {v} validation examples" for t, v, k in sorted(sizes))


def section_tapt(results_dir: Path, grid: TaptGrid = TAPT) -> list[str]:
    if not any((results_dir / grid.name).glob("*.json")):
        return []
    cells = load_cells(results_dir, grid.name)
    acc = accuracies(cells)
    machines = sorted({f"{c['machine'].get('cpu', '?')} (family/model {c['machine'].get('cpu_family_model', '?')})"
                       for c in cells})
    lines = [f"## Task-adaptive pre-training: the `{grid.name}` grid", "",
             f"{grid.description[0].upper()}{grid.description[1:]} (`experiments/tapt_grid.py`; `python -m experiments.run --grid "
             f"{grid.name} --data_dir ../shared/data --workdir runs/experiments --jobs 2`, then `python -m "
             f"experiments.report --grid {grid.name}`). The base model is the recipe with `{grid.architecture}`, "
             f"{grid.base_steps:,} steps; each continuation adds {grid.continued_steps:,} steps at a peak learning "
             f"rate of {grid.continued_learning_rate:g} on its corpus. Schedules run by steps, so load on the machine "
             "changes their time, not their result. Fine-tuning with dropout 0.1 on both sides, the settings of "
             "the recipe grid, seeds " + ", ".join(map(str, grid.seeds)) + ", all fixed before any run; a win "
             "counts where the paired 95% t-interval over the seeds lies above zero. The task-adaptive model reads "
             "every training text of its task (labels unused), more text than TF-IDF sees: it is reported beside "
             f"the Wikipedia-only model, not in its place. Machine: {', '.join(machines)}, fp32. Cells: "
             f"{len(cells)} of {len(grid.cells('data', 'work'))} finished.", "",
             "Pre-training (held-out MLM loss on a held-out slice of each run's own corpus, beside that corpus's "
             "unigram reference: the task-adaptive rows are not comparable with the Wikipedia rows):", "",
             *table(["model", "corpus", "training sequences", "steps", "tokens seen", "tokens/s", "held-out MLM loss",
                     "unigram reference", "nats below it", "cell wall time (min)"], _pretraining_rows(cells)), ""]
    for setting in grid.settings:
        key = setting.key
        tapt = f"tapt-{setting.name}"
        models = ["base", "wiki", tapt, "scratch"]
        rows = [[_model_name(m), pct(acc[(m, key)].values())] for m in models if acc.get((m, key))]
        rows.append(["TF-IDF + logistic regression", pct(acc[("tfidf", key)].values())])
        gains = []
        for what, model, other in COMPARISONS:
            model = tapt if model == "tapt" else model
            pairs = [acc[(model, key)][s] - acc[(other, key)][s] for s in sorted(acc.get((model, key), {}))
                     if s in acc.get((other, key), {})]
            if not pairs:
                continue
            _, low, high = t_interval(pairs)
            verdict = "yes" if low is not None and low > 0 else "no" if high is not None and high < 0 else "not resolved"
            gains.append([what, f"{_model_name(model)} − {_model_name(other) if other != 'tfidf' else 'TF-IDF'}",
                          ci_text(pairs), f"{sum(p > 0 for p in pairs)} of {len(pairs)}", verdict])
        lines += [f"### {setting.name}, {setting.train_per_label} per label", "",
                  f"Test accuracy, mean ± sd over seeds ({_per_label(cells, key)}):", "",
                  *table(["model", "test accuracy (%)"], rows), "",
                  *table(["question", "paired difference", "points [95% CI]", "seeds ahead", "above zero?"], gains),
                  ""]
    return lines
