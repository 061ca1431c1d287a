"""The `tapt` grid's section of RESULTS.md: task-adaptive pre-training against more Wikipedia steps, the
from-scratch twin and TF-IDF (`python -m experiments.report --grid tapt` regenerates RESULTS.md with it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .grids import GRIDS
from .looks import corrected_level
from .report import ci_text, load_cells, pct, table, trained_per_class
from .stats import above_zero, t_interval
from .tapt_grid import DEFAULT_SEED, TAPT, TaptGrid, accuracies

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


def _gain_row(what: str, model: str, other: str, acc: dict, key: str, grid: str) -> list[str] | None:
    """One paired comparison over the fine-tuning seeds, with its interval corrected for the looks at `key`."""
    pairs = [acc[(model, key)][s] - acc[(other, key)][s] for s in sorted(acc.get((model, key), {}))
             if s in acc.get((other, key), {})]
    if not pairs:
        return None
    level, m = corrected_level(key, grid)
    return [what, f"{_model_name(model)} − {_model_name(other) if other != 'tfidf' else 'TF-IDF'}", ci_text(pairs),
            f"{ci_text(pairs, level)} ({m} looks)", f"{sum(p > 0 for p in pairs)} of {len(pairs)}",
            above_zero(t_interval(pairs, level))]


def section_tapt(results_dir: Path, grid: TaptGrid = TAPT) -> list[str]:
    if not any((results_dir / grid.name).glob("*.json")):
        return []
    cells = load_cells(results_dir, grid.name)
    acc = accuracies([c for c in cells if c["meta"].get("run", DEFAULT_SEED) == DEFAULT_SEED])
    machines = sorted({f"{c['machine'].get('cpu', '?')} (family/model {c['machine'].get('cpu_family_model', '?')})"
                       for c in cells})
    lines = [f"## Task-adaptive pre-training: the `{grid.name}` grid", "",
             f"{grid.description[0].upper()}{grid.description[1:]} (`experiments/tapt_grid.py`; `python -m experiments.run --grid "
             f"{grid.name} --data_dir ../shared/data --workdir runs/experiments --jobs 2`, then `python -m "
             f"experiments.report --grid {grid.name}`). The base model is the recipe with `{grid.architecture}`, "
             f"{grid.base_steps:,} steps; each continuation adds {grid.continued_steps:,} steps at a peak learning "
             f"rate of {grid.continued_learning_rate:g} on its corpus. Schedules run by steps, so load on the machine "
             "changes their time, not their result. Fine-tuning with dropout 0.1 on both sides, the settings of "
             "the recipe grid, seeds " + ", ".join(map(str, grid.seeds)) + ". A win counts where the paired "
             "interval over the seeds, widened by Bonferroni over the looks at the setting (`experiments/looks.py`), "
             "lies above zero. The grid's settings were committed with its first results, after its runs had "
             "started (`experiments/preregistration/README.md`). The task-adaptive model reads "
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
        gains = [row for what, model, other in COMPARISONS
                 if (row := _gain_row(what, tapt if model == "tapt" else model, other, acc, key, grid.name))]
        lines += [f"### {setting.name}, {setting.train_per_label} per label", "",
                  f"Test accuracy, mean ± sd over seeds ({trained_per_class(cells, lambda m: m['setting'] == key)}):", "",
                  *table(["model", "test accuracy (%)"], rows), "",
                  *table(["question", "paired difference", "points [95% CI]", "points [Bonferroni CI]", "seeds ahead",
                          "above zero?"], gains), ""]
    return lines + section_runs(results_dir, grid)


def section_runs(results_dir: Path, grid: TaptGrid) -> list[str]:
    """The grid's models over independent pre-training runs: its own run and those of the grids that add runs to
    it. The unit is the run: per run, the mean over fine-tuning seeds of each paired difference; the verdict's
    interval is over the runs' means."""
    more = [g for g in GRIDS.values() if isinstance(g, TaptGrid) and g.runs_of == grid.name
            and any((results_dir / g.name).glob("*.json"))]
    if not more:
        return []
    cells = load_cells(results_dir, grid.name)
    added = [c for g in more for c in load_cells(results_dir, g.name)]
    runs = sorted({DEFAULT_SEED, *(c["meta"]["run"] for c in added if "run" in c["meta"])},
                  key=lambda r: (r != DEFAULT_SEED, r))
    by_run = {r: accuracies([c for c in cells + added if c["meta"].get("run", DEFAULT_SEED) == r]) for r in runs}
    controls = accuracies(cells)  # the twin and TF-IDF: one set, no pre-training in them
    settings = [s for g in more for s in g.settings]
    name = ", ".join(f"`{g.name}`" for g in more)
    lines = [f"### Over independent pre-training runs: the `{grid.name}` grid with {name}", "",
             f"Every interval above counts fine-tuning seeds on one pre-training run. {name[0].upper()}{name[1:]} "
             "pre-trains the base model and its task-adaptive continuation again with other seeds "
             "(`train_mlm.py --seed`: initial weights, batch order, masks; pre-registered in "
             "`experiments/preregistration/`), each fine-tuned with the same seeds on the same samples. Here the "
             "unit is the pre-training run: a run's figure is the mean over its fine-tuning seeds, and the interval "
             "is a t-interval over the runs' figures (runs − 1 degrees of freedom), beside the Bonferroni one over "
             "the looks at the setting. Commands: `python -m experiments.run --grid "
             + " ".join(g.name for g in more) + " --data_dir ../shared/data --workdir runs/experiments --jobs 2`. "
             "Where each run's base model was pre-trained (schedules by steps: a CPU changes the time, and only the "
             "rounding of the arithmetic): " + "; ".join(
                 f"run {c['meta'].get('run', DEFAULT_SEED)} on {c['machine'].get('cpu', '?')} (family/model "
                 f"{c['machine'].get('cpu_family_model', '?')}), {c['results']['eval']['eval_loss']:.3f} held-out "
                 "MLM loss" for c in cells + added if c["kind"] == "pretrain" and c["meta"]["model"] == "base") + ".",
             ""]
    for setting in settings:
        key = setting.key
        tapt = f"tapt-{setting.name}"
        level, m = corrected_level(key, more[-1].name)
        header = ["model", *(f"run {r}" for r in runs), "mean over runs ± sd"]
        rows = []
        for model in ("base", tapt):
            means = [float(np.mean(list(by_run[r][(model, key)].values()))) for r in runs if by_run[r].get((model, key))]
            rows.append([_model_name(model), *(pct(by_run[r][(model, key)].values()) if by_run[r].get((model, key))
                                               else "–" for r in runs), pct(means, unit="run")])
        for model in ("scratch", "tfidf"):
            rows.append([_model_name(model) if model != "tfidf" else "TF-IDF + logistic regression",
                         *(pct(controls[(model, key)].values()) for _ in runs), "(no pre-training)"])
        gains = []
        for what, model, other in RUN_COMPARISONS:
            model, other = (tapt if x == "tapt" else x for x in (model, other))
            per_run = {}
            for r in runs:
                mine = by_run[r].get((model, key), {})
                theirs = controls[(other, key)] if other in ("scratch", "tfidf") else by_run[r].get((other, key), {})
                pairs = [mine[s] - theirs[s] for s in sorted(mine) if s in theirs]
                if pairs:
                    per_run[r] = pairs
            if not per_run:
                continue
            means = [float(np.mean(p)) for p in per_run.values()]
            gains.append([what, *(ci_text(per_run[r]) if r in per_run else "–" for r in runs),
                          ci_text(means, unit="run"), f"{ci_text(means, level, unit='run')} ({m} looks)",
                          f"{sum(x > 0 for x in means)} of {len(means)}", above_zero(t_interval(means, level))])
        lines += [f"{setting.name}, {setting.train_per_label} per label "
                  f"({trained_per_class(cells + added, lambda meta: meta['setting'] == key)}): test accuracy per run, "
                  "mean ± sd over its fine-tuning seeds", "", *table(header, rows), "",
                  "Paired differences in points: per run over its fine-tuning seeds [95% CI], then over the runs' "
                  "means:", "",
                  *table(["question", *(f"run {r}" for r in runs), "over runs [95% CI]", "over runs [Bonferroni CI]",
                          "runs ahead", "above zero?"], gains), ""]
    return lines


# (what is asked, model, compared with) over pre-training runs, in the order the pre-registration gives
RUN_COMPARISONS = (("task-adaptive against TF-IDF", "tapt", "tfidf"), ("base against TF-IDF", "base", "tfidf"),
                   ("pre-training pays off", "base", "scratch"), ("task-adaptive over the base", "tapt", "base"))
