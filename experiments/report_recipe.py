"""The `recipe` grid's report: does the CPU pre-training recipe pay off, and what does each of its choices buy?

    python -m experiments.report --grid recipe      # -> RESULTS.md (the cpu grid's report goes to results/cpu/)

Sections: pre-training (held-out MLM loss beside the unigram reference), pre-trained vs from scratch vs TF-IDF at
each task and size (paired 95% CIs over seeds), the learning curve (gain against the pre-training budget) and the
ablations (one choice changed at a time, equal wall-clock budget).
"""

from __future__ import annotations

import datetime
import json
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .grids import CLAIMS, CLAIMS_20M
from .recipe_grid import FINETUNE_DROPOUT, RECIPE_FT_DROPOUT, RECIPE_HEADLINE, RecipeGrid
from .looks import LOOKS, corrected_level
from .report import _plt, _save, ci_text, load_cells, pct, report_lines, table, trained_per_class
from .report_tapt import section_tapt
from .stats import above_zero, t_interval


class RecipeResults:
    """The finished cells of the recipe grid, indexed by setting ('ag_news-1000'), budget and seed."""

    def __init__(self, grid: RecipeGrid, cells: list[dict]):
        self.grid, self.cells = grid, cells
        self.pretrain = {c["id"]: c for c in cells if c["kind"] == "pretrain"}
        self.finetune = defaultdict(dict)  # (budget minutes or 0 = scratch, setting) -> {seed: test accuracy}
        self.ablation_ft = defaultdict(dict)  # ablation -> {setting: test accuracy}
        self.variant_ft = defaultdict(dict)  # (variant, setting) -> {seed: test accuracy}
        self.twin_ft = defaultdict(dict)  # (variant, setting) -> {seed: its own from-scratch twin's test accuracy}
        self.tfidf = defaultdict(dict)  # setting -> {seed: test accuracy}
        # (budget minutes or 0, setting) -> {seed: [(learning rate, validation accuracy, test accuracy)]}: what a
        # fine-tuning search chooses among, its own runs and the setting's run of the same model
        self.candidates = defaultdict(lambda: defaultdict(list))
        searched = {(minutes, s.setting_key) for s in grid.searches for minutes in (s.budget, 0)}
        for c in cells:
            m = c["meta"]
            if (c["kind"] == "finetune" and "variant" not in m and "twin_of" not in m
                    and (m.get("budget_minutes"), m.get("setting")) in searched):
                lr = float(c["argv"][c["argv"].index("--learning_rate") + 1])  # what the cell ran with
                self.candidates[(m["budget_minutes"], m["setting"])][m["seed"]].append(
                    (lr, c["results"]["validation"]["eval_accuracy"], c["results"]["test_accuracy"]))
            if c["kind"] == "finetune" and "search" in m:
                continue  # only a candidate: counted once chosen
            if c["kind"] == "finetune" and "ablation" in m:
                self.ablation_ft[m["ablation"]][m["setting"]] = c["results"]["test_accuracy"]
            elif c["kind"] == "finetune" and "variant" in m:
                self.variant_ft[(m["variant"], m["setting"])][m["seed"]] = c["results"]["test_accuracy"]
            elif c["kind"] == "finetune" and "twin_of" in m:
                self.twin_ft[(m["twin_of"], m["setting"])][m["seed"]] = c["results"]["test_accuracy"]
            elif c["kind"] == "finetune":
                self.finetune[(m["budget_minutes"], m["setting"])][m["seed"]] = c["results"]["test_accuracy"]
            elif c["kind"] == "tfidf":
                self.tfidf[m["setting"]][m["seed"]] = c["results"]["test_accuracy"]
        self.settings = [s.key for s in grid.settings]

    def gains(self, minutes: float, setting: str, variant: str | None = None, over: str = "scratch") -> list[float]:
        """Per seed: pre-trained minus from-scratch (same seed: same labelled sample, same classifier init), or
        minus the TF-IDF peer on the same labelled sample (`over="tfidf"`). A variant that changes the architecture
        is compared with its own from-scratch twin."""
        pre = self.variant_ft.get((variant, setting), {}) if variant else self.finetune.get((minutes, setting), {})
        if over == "tfidf":
            other = self.tfidf.get(setting, {})
        elif variant and self.grid.variant(variant).own_twin:
            other = self.twin_ft.get((variant, setting), {})
        else:
            other = self.finetune.get((0, setting), {})
        return [pre[s] - other[s] for s in sorted(pre) if s in other]

    def budgets_done(self) -> list[float]:
        return sorted({b for (b, _), seeds in self.finetune.items() if b and seeds})


def _mlm(cell: dict) -> dict:
    r = cell["results"]
    ev = r["eval"]
    steps = r["train"].get("global_step")
    tokens = ev.get("num_input_tokens_seen") or r["train"].get("num_input_tokens_seen")
    runtime = r["train"].get("train_runtime")  # seconds of training, evaluation and saving included
    return dict(loss=ev["eval_loss"], unigram=ev.get("eval_unigram_cross_entropy"), accuracy=ev.get("eval_accuracy"),
                steps=steps, tokens=tokens, tokens_per_s=tokens / runtime if tokens and runtime else None)


def _gap(m: dict) -> str:
    return f"{m['unigram'] - m['loss']:.2f}" if m["unigram"] is not None else "–"


def section_pretraining(res: RecipeResults) -> list[str]:
    rows = []
    for cid, c in sorted(res.pretrain.items(), key=lambda kv: -kv[1]["meta"].get("budget_minutes", 0)):
        if "budget_minutes" not in c["meta"] or "variant" in c["meta"]:
            continue
        m = _mlm(c)
        rows.append([f"{c['meta']['budget_minutes']:g} min", f"{m['steps']:,}", f"{m['tokens'] / 1e6:.1f}M",
                     f"{m['tokens_per_s']:,.0f}" if m["tokens_per_s"] else "–",
                     f"{m['loss']:.3f}", f"{m['unigram']:.3f}", _gap(m), f"{100 * m['accuracy']:.1f}%",
                     f"{c['duration_s'] / 60:.1f}", str(c.get("torch_threads"))])
    if not rows:
        return ["No pre-training run of the learning curve has finished yet."]
    return ["Held-out MLM loss (nats per masked token, 512 held-out packed sequences) beside the no-context "
            "reference: the cross-entropy of the pre-training set's unigram distribution on the same held-out tokens. "
            "Below it by a margin means the model uses context.", "",
            *table(["budget", "steps", "tokens seen", "tokens/s", "held-out MLM loss", "unigram reference", "nats below it",
                    "masked-token accuracy", "cell wall time (min)", "threads"], rows)]


def section_headline(res: RecipeResults, minutes: float, summary: bool = True) -> tuple[list[str], dict]:
    """The table of pre-trained vs from scratch vs TF-IDF per setting, and (`summary`) a sentence on claim 1."""
    rows, verdicts = [], {}
    for setting in res.settings:
        pre, scratch = res.finetune.get((minutes, setting), {}), res.finetune.get((0, setting), {})
        tf = res.tfidf.get(setting, {})
        gains = res.gains(minutes, setting)
        if not pre:
            continue
        level, m = corrected_level(setting, res.grid.name)
        beats = above_zero(t_interval(gains, level)) if gains else "not resolved"
        vs_tfidf = ""
        if tf and pre:
            diff = np.mean(list(pre.values())) - np.mean(list(tf.values()))
            vs_tfidf = f"{'wins' if diff > 0 else 'loses'} by {100 * abs(diff):.1f}"
        verdicts[setting] = beats
        trained = trained_per_class(res.cells, lambda meta, key=setting: meta.get("setting") == key
                                    and meta.get("budget_minutes") == minutes and "search" not in meta)
        rows.append([setting.replace("-", ", ") + "/label", trained.split(" per class")[0], pct(pre.values()),
                     pct(scratch.values()), str(len(gains)), ci_text(gains), f"{ci_text(gains, level)} ({m} looks)",
                     beats, pct(tf.values()), vs_tfidf])
    lines = [*table(["task, training examples", "trained on per class", f"pre-trained {minutes:g} min", "from scratch",
                     "paired seeds", "gain, points [95% CI]", "gain [Bonferroni CI over the looks]",
                     "corrected CI above zero", "TF-IDF + LR", "pre-trained vs TF-IDF"], rows)]
    if verdicts and summary:
        above = [k for k, v in verdicts.items() if v == "yes"]
        below = [k for k, v in verdicts.items() if v == "no"]
        wins = [r[0] for r in rows if r[-1].startswith("wins")]
        lines += ["", f"**Claim 1 with the recipe (pre-trained beats the same model from scratch):** the gain's corrected "
                  f"interval lies above zero on {len(above)} of {len(verdicts)} settings"
                  + (f" ({', '.join(above)})" if above else "")
                  + (f", below zero on {', '.join(below)}" if below else "")
                  + ", and is not resolved on the rest. Rule: a setting counts only where the paired t-interval over "
                  "the seeds, widened by Bonferroni over the looks at that setting (`experiments/looks.py`), excludes "
                  "zero; the uncorrected 95% interval is shown beside it. "
                  f"**Against TF-IDF:** the pre-trained model wins on {len(wins)} of "
                  f"{len(rows)} settings" + (f" ({', '.join(wins)})" if wins else "") + "."]
    return lines, verdicts


def section_learning_curve(res: RecipeResults, plots: Path) -> list[str]:
    budgets = res.budgets_done()
    if not budgets:
        return ["No fine-tuned checkpoint of the learning curve yet."]
    rows = []
    for setting in res.settings:
        cells = [ci_text(res.gains(b, setting)) for b in budgets]
        if any(c != "–" for c in cells):
            rows.append([setting.replace("-", ", ") + "/label", *cells])
    lines = table(["task, training examples", *[f"{b:g} min" for b in budgets]], rows)
    if len(budgets) >= 2:
        lines += ["", f"![gain vs budget]({plot_learning_curve(res, budgets, plots)})"]
    rows = [[s.replace("-", ", ") + "/label", *[ci_text(res.gains(b, s, over="tfidf")) for b in budgets]]
            for s in res.settings]
    lines += ["", "The pre-trained model against the TF-IDF peer on the same labelled samples (points, paired by seed, "
              "95% CI):", "", *table(["task, training examples", *[f"{b:g} min" for b in budgets]], rows)]
    return lines


def plot_learning_curve(res: RecipeResults, budgets: list[float], plots: Path) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for setting in res.settings:
        xs, means, errs = [], [], []
        for b in budgets:
            gains = res.gains(b, setting)
            if gains:
                mean, low, high = t_interval(gains)
                xs.append(b)
                means.append(100 * mean)
                errs.append(100 * (high - mean) if high is not None else 0)
        if xs:
            ax.errorbar(xs, means, yerr=errs, marker="o", capsize=3, label=setting)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xscale("log")
    ax.set_xticks(budgets, [f"{b:g}" for b in budgets])
    ax.minorticks_off()
    ax.set_xlabel("pre-training budget, minutes (2-core CPU)")
    ax.set_ylabel("gain over from scratch, points (95% CI)")
    ax.set_title("recipe grid: fine-tuning gain vs pre-training budget")
    ax.legend(fontsize=7)
    return _save(fig, plots, "gain_vs_budget.png")


def section_variants(res: RecipeResults) -> list[str]:
    """The recipe with one choice changed at one budget of the learning curve, beside the recipe at that budget."""
    rows = []
    for minutes in sorted({variant.minutes for variant in res.grid.variants}, reverse=True):
        budget = res.grid.budget_id(minutes)
        finished = [(f"`{v.name}`: {v.what}", res.pretrain[f"pt-{budget}-{v.name}"], v.name)
                    for v in res.grid.variants if v.minutes == minutes and f"pt-{budget}-{v.name}" in res.pretrain]
        recipe = [("the recipe", res.pretrain[f"pt-{budget}"], None)] if finished and f"pt-{budget}" in res.pretrain else []
        for label, cell, name in recipe + finished:  # the recipe once per budget, beside its finished variants
            m = _mlm(cell)
            rows.append([f"{minutes:g} min", label, f"{m['steps']:,}", f"{m['tokens'] / 1e6:.1f}M", f"{m['loss']:.3f}",
                         _gap(m), *[ci_text(res.gains(minutes, s, name)) for s in res.settings]])
    if not rows:
        return ["No variant has finished yet."]
    return ["Each variant changes one choice of the recipe and is pre-trained alone on the machine for a budget of "
            "the learning curve, then fine-tuned exactly as the recipe at that budget; gains are over the "
            "from-scratch twin, paired by seed (a variant that changes the architecture has its own twin: the same "
            "architecture with random weights, fine-tuned the same way).", "",
            *table(["budget", "pre-training", "steps", "tokens seen", "held-out MLM loss", "nats below unigram",
                    *[s.replace("-", ", ") + "/label" for s in res.settings]], rows)]


def chosen_on_validation(candidates: list[tuple[float, float, float]]) -> tuple[float, float]:
    """(learning rate, test accuracy) of the candidate with the best validation accuracy; ties go to the lower rate."""
    lr, _, test = max(candidates, key=lambda c: (c[1], -c[0]))
    return lr, test


def _rates_by_seed(chosen: dict[int, tuple[float, float]]) -> str:
    return ", ".join(f"{chosen[seed][0]:g}" for seed in sorted(chosen))


def section_searches(res: RecipeResults, level: int = 2) -> list[str]:
    """Each search's pre-trained model against its twin, each with its rate chosen on validation per seed; a seed
    counts once every rate has run for it. `level`: of the section's heading."""
    rows = []
    for search in res.grid.searches:
        pre = res.candidates.get((search.budget, search.setting_key), {})
        scratch = res.candidates.get((0, search.setting_key), {})
        rates = len(search.learning_rates) + 1
        pre = {s: chosen_on_validation(c) for s, c in pre.items() if len(c) == rates}
        scratch = {s: chosen_on_validation(c) for s, c in scratch.items() if len(c) == rates}
        if not pre or not scratch:
            continue
        gains = [pre[s][1] - scratch[s][1] for s in sorted(pre) if s in scratch]
        tf = res.tfidf.get(search.setting_key, {})
        rows.append([search.setting_key.replace("-", ", ") + "/label", f"{search.budget:g} min",
                     pct(v[1] for v in pre.values()), _rates_by_seed(pre), pct(v[1] for v in scratch.values()),
                     _rates_by_seed(scratch), str(len(gains)), ci_text(gains), pct(tf.values())])
    if not rows:
        return []
    base = {s.key: s for s in res.grid.settings}
    return ["#" * level + " Fine-tuning learning rate chosen on validation", "",
            "The setting fine-tuned again at other learning rates (" + "; ".join(
                f"{s.setting_key}: " + ", ".join(f"{lr:g}" for lr in s.learning_rates) + f" besides "
                f"{base[s.setting_key].learning_rate:g}" for s in res.grid.searches) + "), the pre-trained model and "
            "its from-scratch twin alike, same epochs and seeds. For each model and seed the rate with the best "
            "validation accuracy is chosen (the test set plays no part); the gain pairs the chosen runs by seed.", "",
            *table(["task, training examples", "pre-trained", "its test accuracy", "chosen rates (by seed)",
                    "from scratch", "chosen rates (by seed)", "paired seeds", "gain, points [95% CI]", "TF-IDF + LR"],
                   rows), ""]


def section_ablations(res: RecipeResults) -> list[str]:
    few = [s.key for s in res.grid.settings if s.train_per_label == res.grid.ablation_train_per_label]
    rows = []
    for ab in res.grid.ablations:
        c = res.pretrain.get(f"abl-{ab.name}")
        if c is None:
            continue
        m = _mlm(c)
        accs = [res.ablation_ft.get(ab.name, {}).get(s) for s in few]
        mean = np.mean([a for a in accs if a is not None]) if any(a is not None for a in accs) else None
        rows.append([f"`{ab.name}`", ab.what, f"{m['tokens'] / 1e6:.1f}M", f"{m['loss']:.3f}", f"{m['unigram']:.3f}",
                     _gap(m), *[f"{100 * a:.1f}" if a is not None else "–" for a in accs],
                     f"{100 * mean:.1f}" if mean is not None else "–"])
    if not rows:
        return ["No ablation has finished yet."]
    gaps = [m["unigram"] - m["loss"] for m in (_mlm(res.pretrain[f"abl-{ab.name}"]) for ab in res.grid.ablations
                                              if f"abl-{ab.name}" in res.pretrain) if m["unigram"] is not None]
    longest = max((c for c in res.pretrain.values() if "budget_minutes" in c["meta"]),
                  key=lambda c: c["meta"]["budget_minutes"], default=None)
    caveat = ("" if longest is None else
              f" How far this short budget gets: the recipe's {longest['meta']['budget_minutes']:g}-minute run ends "
              f"{_gap(_mlm(longest))} nats below its unigram reference, these runs {min(gaps):.2f} to "
              f"{max(gaps):.2f}; with one "
              "fine-tuning seed, accuracies that differ by a few points are within noise.")
    return [f"Each variant changes one choice of the recipe and is pre-trained for {res.grid.ablation_minutes:g} "
            "minutes of wall-clock time (two at a time, one torch thread each, so all ran under the same "
            f"conditions), then fine-tuned on {res.grid.ablation_train_per_label} examples per label (seed "
            f"{res.grid.seeds[0]}). Losses of different vocabularies are not comparable; the gap to each one's own "
            "unigram reference is." + caveat, "",
            *table(["variant", "what changes", "tokens seen", "held-out MLM loss", "its unigram reference",
                    "nats below it", *[f"{s} acc %" for s in few], "mean acc %"], rows)]


def section_claims(results_dir: Path) -> list[str]:
    """The paper's claims re-tested with models pre-trained by the recipe (the `claims` grid) once it has run, and a
    pointer to the shorter-budget first run (`claims-20m`)."""
    lines = []
    if any((results_dir / CLAIMS.name).glob("*.json")):
        report, _ = report_lines(CLAIMS.name, results_dir, depth=2, title=False)
        lines = [f"The `{CLAIMS.name}` grid (`experiments/grids.py`): {CLAIMS.description}. Also written alone to "
                 f"[results/{CLAIMS.name}/REPORT.md](results/{CLAIMS.name}/REPORT.md).", "", *report]
    if any((results_dir / CLAIMS_20M.name).glob("*.json")):
        lines += [f"The first run, grid `{CLAIMS_20M.name}` ({CLAIMS_20M.description}), is reported in "
                  f"[results/{CLAIMS_20M.name}/REPORT.md](results/{CLAIMS_20M.name}/REPORT.md).", ""]
    return ["## The paper's claims, re-tested with the recipe", "", *lines] if lines else []


def machine_and_cells(res: RecipeResults) -> str:
    """Where and when the grid's cells ran: CPU, code versions, how many cells finished."""
    recorded = [c["machine"] for c in res.cells if "cpu_family_model" in c["machine"]]  # newer runners record it
    machine = recorded[0] if recorded else res.cells[0]["machine"] if res.cells else {}
    versions = sorted({c.get("code_version", "?") for c in res.cells})
    starts = [datetime.datetime.fromisoformat(c["started_at"]) for c in res.cells]
    return (f"Machine: {machine.get('cpu', '?')}"
            + (f" (family/model {machine['cpu_family_model']}; {', '.join(machine.get('cpu_features', [])) or 'no AVX2'})"
               if "cpu_family_model" in machine else " (CPU family and features not recorded by this runner version)")
            + f", {machine.get('cores', '?')} cores, fp32. "
            f"Code version(s): {', '.join(versions)}. Cells: {len(res.cells)} of {len(res.grid.cells('data', 'work'))} "
            f"finished" + (f", {min(starts):%Y-%m-%d %H:%M} to "
                           f"{max(s + datetime.timedelta(seconds=c['duration_s']) for s, c in zip(starts, res.cells)):%H:%M} UTC."
                           if starts else "."))


class FollowUp(NamedTuple):
    """A grid that pre-trains the recipe's largest budget again to ask one more question of its headline."""

    grid: RecipeGrid
    title: str  # what the section adds, after "The 60-minute model again: <settings>, "
    finetuned: str  # how it was fine-tuned, after "then fine-tuned "


FOLLOW_UPS = (
    FollowUp(RECIPE_HEADLINE, "more seeds", "exactly as above"),
    FollowUp(RECIPE_FT_DROPOUT, "fine-tuned with dropout",
             "as above but with dropout 0.1 (hidden and attention probabilities, BERT's fine-tuning default) on both "
             "sides, through `train_cls.py --config_overrides " + FINETUNE_DROPOUT + "`"),
)


def section_follow_up(results_dir: Path, follow_up: FollowUp) -> list[str]:
    """A follow-up grid once it has results: the largest budget pre-trained again (on the machine that ran the
    grid), its settings with the grid's seeds (and fine-tuning searches, if any)."""
    grid = follow_up.grid
    if not any((results_dir / grid.name).glob("*.json")):
        return []
    res = RecipeResults(grid, load_cells(results_dir, grid.name))
    minutes = max(grid.budgets)
    headline, _ = section_headline(res, minutes, summary=False)
    seeds = ", ".join(map(str, grid.headline_seeds))
    return [f"## The {minutes:g}-minute model again: {', '.join(s.key for s in grid.settings)}, {follow_up.title}", "",
            f"The `{grid.name}` grid (`experiments/recipe_grid.py`, `python -m experiments.run --grid {grid.name}`): "
            f"{grid.description}. The recipe pre-trained again for {minutes:g} minutes, alone on the machine, then "
            f"fine-tuned {follow_up.finetuned} with seeds {seeds}, beside its from-scratch twin and the TF-IDF peer "
            "on the same labelled samples. " + machine_and_cells(res), "",
            *section_pretraining(res), "", *headline, "",
            *section_searches(res, level=3)]


def section_contamination(results_dir: Path) -> list[str]:
    """Test texts found in the pre-training corpora (`experiments/contamination.py`), once it has run."""
    path = results_dir / "contamination" / "results.json"
    if not path.exists():
        return []
    found = json.loads(path.read_text())
    n = found["n"]
    rows = [[r["task"], r["corpus"], f"{r['corpus_documents']:,}", f"{r['test_texts']:,}", f"{r['shorter_than_n']:,}",
             f"{r['touched']:,} ({100 * r['touched_share']:.2f}%)", f"{r['covered']:,}",
             f"{100 * r['ngram_share']:.3f}%"] for r in found["rows"]]
    return ["## Contamination: downstream test texts in the pre-training text", "",
            f"Word {n}-grams (lower-cased) of every test text looked up in each corpus, as GPT-3's check does: a text "
            f"is touched when one of its {n}-grams occurs in the corpus, covered when all do. FewRel's rows are "
            f"{found['fewrel_texts']}. The task's training texts are the task-adaptive corpus (and the pool the "
            "labelled samples of every model, TF-IDF included, are drawn from). Command: `python -m "
            "experiments.contamination --data_dir ../shared/data --output_dir results/contamination`.", "",
            *table(["task", "corpus", "documents", "test texts", f"shorter than {n} words", "touched", "covered",
                    f"test {n}-grams in the corpus"], rows), ""]


def section_looks() -> list[str]:
    """Every look at a setting's test results (`experiments/looks.py`), which the verdicts above correct for."""
    rows, seen = [], defaultdict(int)
    order = list(dict.fromkeys(look.setting for look in LOOKS))
    for look in sorted(LOOKS, key=lambda look: order.index(look.setting)):  # stable: each setting's looks in order
        seen[look.setting] += 1
        rows.append([look.setting, str(seen[look.setting]), f"`{look.grid}`", look.what, look.commit])
    return ["## Looks at each setting", "",
            "Every time a setting's test results were seen and the setting was fine-tuned again, in order. The m-th "
            "look is judged with a Bonferroni interval at level 1 − 0.05/m (`experiments/looks.py`); what each grid "
            "fixed in advance is in `experiments/preregistration/`.", "",
            *table(["setting", "look", "grid", "what was seen", "commit"], rows), ""]


def render(grid: RecipeGrid, results_dir: Path, output: Path) -> dict:
    res = RecipeResults(grid, load_cells(results_dir, grid.name))
    plots = results_dir / grid.name / "plots"
    headline_minutes = max(res.budgets_done(), default=max(grid.budgets))
    headline, verdicts = section_headline(res, headline_minutes)
    lines = [
        "# Results: pre-training that pays off on a 2-core CPU", "",
        f"Generated by `python -m experiments.report --grid {grid.name}` from `{results_dir.name}/{grid.name}/`; do not edit "
        "by hand. The grid: `python -m experiments.run --grid recipe` (see `experiments/recipe_grid.py`).", "",
        "- " + machine_and_cells(res),
        f"- Recipe: `train_mlm.py --recipe {grid.recipe}` (`modeling_tlm/recipes/{grid.recipe}.yaml`); the "
        "from-scratch twin is the same architecture and tokenizer with random weights; TF-IDF + logistic regression "
        "is fitted on exactly the same labelled samples (n-grams and C chosen on the validation slice).",
        "- Fine-tuning settings were fixed before any run (learning rate 5e-4, warm-up 10%; " + "; ".join(
            f"{s.key}: {s.epochs:g} epochs, batch {s.batch_size}" for s in grid.settings) + "), the same for "
        "pre-trained and from-scratch models; the epoch is chosen on the validation slice (10% of the labelled "
        "pool), and the test set is evaluated once. Seeds: " + ", ".join(map(str, grid.seeds)) + " for every budget, "
        + ", ".join(map(str, grid.headline_seeds)) + f" for the {max(grid.budgets):g}-minute model, its from-scratch "
        "twin and TF-IDF (each seed draws its own labelled sample and classifier initialisation; gains are paired by "
        "seed, over the seeds both sides have finished).", "",
        *([grid.notes, ""] if grid.notes else []),
        "## Pre-training", "", *section_pretraining(res), "",
        f"## Pre-trained ({headline_minutes:g} min) vs from scratch vs TF-IDF", "", *headline, "",
        "## Learning curve: gain against the pre-training budget", "", *section_learning_curve(res, plots), "",
        "## Variants on the learning curve", "", *section_variants(res), "",
        *[line for follow_up in FOLLOW_UPS for line in section_follow_up(results_dir, follow_up)],
        *section_searches(res),
        *section_tapt(results_dir),
        *section_contamination(results_dir),
        *section_looks(),
        "## Ablations at equal wall-clock time", "", *section_ablations(res), "",
        *section_claims(results_dir),
        "## Earlier grid", "",
        "The `cpu` grid (pre-training too short for the models to learn context: held-out MLM loss within 0.17 "
        "nats of the unigram reference) is reported in [results/cpu/REPORT.md](results/cpu/REPORT.md).", "",
    ]
    text = "\n".join(lines)
    for folder in (plots, results_dir / CLAIMS.name / "plots"):  # image links relative to RESULTS.md
        text = text.replace(f"]({folder}", f"]({folder.relative_to(results_dir.parent) if results_dir.is_absolute() else folder}")
    output.write_text(text)
    return verdicts
