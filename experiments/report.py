"""A grid's report and its plots from results/<grid>/: `python -m experiments.report --grid cpu` writes
results/cpu/REPORT.md (the recipe grid's report, RESULTS.md, is `experiments/report_recipe.py`).

One section per claim of the paper, each with its tables (means ± standard deviations over seeds, TF-IDF peer beside
every figure), its plot, the commands behind it and a verdict computed by the rule stated in the section.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

import numpy as np

from modeling_tlm.training.checks import ArgumentError
from modeling_tlm.training.commands import run_cli

from .grids import GRIDS, Grid, get_grid
from .recipe_grid import RecipeGrid
from .tapt_grid import TaptGrid
from .stats import Interval, correlation_interval, mean_std, slope_interval, t_interval

MATCH_MARGIN = 0.01  # committee "matches" the deep model: at most 1 point of accuracy below it on average
# Claim 3 needs token overlap that varies: where every (task, size) point lies within this many points of overlap
# (a tokenizer trained on the pre-training corpus covers ~100% of every task), the design cannot test it.
MIN_OVERLAP_SPREAD = 0.05


# ----------------------------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------------------------


def load_cells(results_dir: Path, grid: str) -> list[dict]:
    folder = results_dir / grid
    if not folder.is_dir():
        raise ArgumentError(f"{folder}: no results; run `python -m experiments.run --grid {grid}` first")
    cells = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    return [c for c in cells if c.get("status") == "done"]


class Results:
    """The finished cells of one grid, indexed for the tables."""

    def __init__(self, grid: Grid, cells: list[dict]):
        self.grid, self.cells = grid, cells
        self.by_kind = defaultdict(list)
        for c in cells:
            self.by_kind[c["kind"]].append(c)
        # (model, size or None, task) -> {seed: results}
        self.finetune = defaultdict(dict)
        for c in self.by_kind["finetune"]:
            m = c["meta"]
            self.finetune[(m["model"], m["pre_train_size"], m["task"])][m["seed"]] = c["results"]
        self.tfidf = defaultdict(dict)
        for c in self.by_kind["tfidf"]:
            self.tfidf[c["meta"]["task"]][c["meta"]["seed"]] = c["results"]
        self.committee = defaultdict(dict)
        for c in self.by_kind["committee"]:
            self.committee[c["meta"]["task"]][c["meta"]["seed"]] = c["results"]
        self.overlap = {}  # (size, task) -> overlap row at min_count 1
        self.overlap10 = {}
        for c in self.by_kind["overlap"]:
            for row in c["results"]:
                target = self.overlap if row["min_count"] == 1 else self.overlap10
                target[(c["meta"]["pre_train_size"], row["task"])] = row
        self.pretrain = {(c["meta"]["model"], c["meta"]["pre_train_size"]): c for c in self.by_kind["pretrain"]}
        self.latency = self.by_kind["latency"][0]["results"] if self.by_kind["latency"] else None
        self.unigram = self.by_kind["unigram"][0]["results"]["sizes"] if self.by_kind["unigram"] else {}
        self.tasks = [t.name for t in grid.tasks]

    def accuracies(self, model: str, size: int | None, task: str, key: str = "test_accuracy") -> dict[int, float]:
        return {seed: r[key] for seed, r in self.finetune.get((model, size, task), {}).items()}

    def tfidf_accuracies(self, task: str, key: str = "test_accuracy") -> dict[int, float]:
        return {seed: r[key] for seed, r in self.tfidf.get(task, {}).items()}

    def gains(self, model: str, size: int, task: str) -> list[float]:
        """Per seed: pre-trained minus from-scratch test accuracy (same seed: same sample, same classifier init)."""
        pre, scratch = self.accuracies(model, size, task), self.accuracies(model, None, task)
        return [pre[s] - scratch[s] for s in sorted(pre) if s in scratch]

    def committee_accuracies(self, task: str, members: tuple[int, ...]) -> dict[int, float]:
        """Per seed: test accuracy of the soft committee of these members (indices into grid.members)."""
        out = {}
        for seed, r in self.committee.get(task, {}).items():
            for c in r["committees"]:
                if tuple(c["members"]) == members:
                    out[seed] = c["test_accuracy"]
        return out

    def alone_accuracies(self, task: str, member: int | None) -> dict[int, float]:
        """Per seed: test accuracy of one member (index) or of the deep model (None) as evaluated by the committee
        cell, through the committee's own evaluation path; falls back to the fine-tuning cells' figures."""
        out = {}
        for seed, r in self.committee.get(task, {}).items():
            rows = r["members"][member:member + 1] if member is not None else r.get("references", [])[:1]
            if rows:
                out[seed] = rows[0]["test_accuracy"]
        if out:
            return out
        g = self.grid
        model, size = (g.deep, max(g.deep_sizes)) if member is None else (g.members[member], g.member_size)
        return self.accuracies(model.name, size, task)


# ----------------------------------------------------------------------------------------------------------------
# Formatting
# ----------------------------------------------------------------------------------------------------------------


def pct(values, unit: str = "seed") -> str:
    """'83.1 ± 0.4': mean ± sd in percent over seeds (or other units: runs)."""
    values = list(values)
    if not values:
        return "–"
    mean, sd, n = mean_std(values)
    return f"{100 * mean:.1f} ± {100 * sd:.1f}" if sd is not None else f"{100 * mean:.1f} (1 {unit})"


def ci_text(values, level: float = 0.95, unit: str = "seed") -> str:
    values = list(values)
    if not values:
        return "–"
    mean, low, high = t_interval(values, level)
    if low is None:
        return f"{100 * mean:+.1f} (no CI: 1 {unit})"
    return f"{100 * mean:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]"


def trained_per_class(cells: list[dict], keep=lambda meta: True) -> str:
    """What the fine-tuning runs among `cells` (those whose meta `keep` accepts) trained on, after the validation
    slice: e.g. "1000 per class trained on, 400 validation examples"."""
    sizes = {(c["results"]["data_sizes"]["train"], c["results"]["data_sizes"]["validation"], c["results"]["num_labels"])
             for c in cells if c["kind"] == "finetune" and "data_sizes" in c["results"] and keep(c["meta"])}
    return "; ".join(f"{t // k} per class trained on, {v} validation examples" for t, v, k in sorted(sizes)) or "–"


def size_label(n: int | None) -> str:
    return "none (from scratch)" if n is None else f"{n:,}"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|",
            *["| " + " | ".join(r) + " |" for r in rows]]


def commands(res: Results, kinds: tuple[str, ...]) -> list[str]:
    """One example command per kind and how many cells ran it; every cell's own command is in its JSON."""
    out = []
    for kind in kinds:
        cells = res.by_kind.get(kind, [])
        if cells:
            out.append(f"- {kind} ({len(cells)} cell{'s' if len(cells) > 1 else ''}, e.g. `{cells[0]['id']}`): "
                       f"`{cells[0]['command']}`")
    return out


# ----------------------------------------------------------------------------------------------------------------
# Sections
# ----------------------------------------------------------------------------------------------------------------


def verdict_line(name: str, verdict: str, why: str) -> str:
    return f"**Verdict: {verdict}.** {why}"


def section_setup(res: Results, results_dir: Path) -> list[str]:
    g = res.grid
    starts = [datetime.datetime.fromisoformat(c["started_at"]) for c in res.cells]
    ends = [s + datetime.timedelta(seconds=c["duration_s"]) for s, c in zip(starts, res.cells)]
    cell_time = sum(c["duration_s"] for c in res.cells)
    m = res.cells[0]["machine"] if res.cells else {}
    threads = sorted({c.get("torch_threads") for c in res.cells})
    expected = len(g.cells("data", "work"))
    lines = [
        f"Grid `{g.name}`: {g.description}. {len(res.cells)} of {expected} cells finished.",
        "",
        f"- Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, Python {m.get('python', '?')}; "
        f"torch threads per cell: {', '.join(map(str, threads))}. "
        + ("Each timed pre-training run had the machine to itself (every core); the other cells shared it; "
           "latencies were measured alone (see Claim 4)." if g.recipe else
           "The machine was shared with other work while the grid ran, so timings are slower than on an idle "
           "machine (latencies were measured alone, see Claim 4)."),
        f"- Wall time: {(max(ends) - min(starts)).total_seconds() / 60:.1f} min from the first cell's start to the "
        f"last cell's end; {cell_time / 3600:.2f} hours of cell time (sum of the cells' durations)." if starts else "",
        f"- Produced by `python -m experiments.run --grid {g.name}` (resumable; rerun to finish an interrupted grid) "
        f"and `python -m experiments.report --grid {g.name}`. Every cell's exact command, arguments, duration and "
        f"outputs are in `{results_dir / g.name}/<cell id>.json`.",
        "",
        "| | models | pre-training | fine-tuning |",
        "| --- | --- | --- | --- |",
        f"| this grid | deep: {g.deep.label}; members: {'; '.join(m.label for m in g.members)} | "
        f"{g.sequence_mode} sequences of {g.max_seq_length} tokens: deep at {', '.join(f'{n:,}' for n in g.deep_sizes)}, "
        f"members at {g.member_size:,}; "
        + (f"recipe `{g.recipe}` for {g.pretrain_minutes:g} min (deep, at every size) and "
           f"{g.pretrain_minutes / len(g.members):g} min (each member)" if g.recipe
           else f"{g.pretrain_epochs:g} epochs, lr {g.pretrain_lr:g}") + f", batch {g.pretrain_batch_size} | "
        + "; ".join(f"{t.name} {t.train_per_label}/{t.test_per_label} per label, {t.epochs:g} epochs, lr {t.learning_rate:g}"
                    for t in g.tasks) + f"; batch {g.batch_size}; seeds {', '.join(map(str, g.seeds))} |",
    ]
    paper = GRIDS["paper"]
    if g.name != "paper":
        lines.append(
            f"| the paper (`--grid paper`) | BERT-6 (hidden 768); BERT-1 variants: {', '.join(m.name for m in paper.members)} | "
            f"article heads of 128 tokens: {', '.join(f'{n:,}' for n in paper.deep_sizes)}; 50 epochs, lr 5e-5 | "
            + "; ".join(f"{t.name} {t.train_per_label}/{t.test_per_label} per label, 50 epochs" for t in paper.tasks) + " |")
    if g.notes:
        lines += ["", g.notes]
    return lines


def section_pretraining(res: Results) -> list[str]:
    rows = []
    for (model, size), c in sorted(res.pretrain.items(), key=lambda kv: (kv[0][0] != res.grid.deep.name, kv[0])):
        r = c["results"]
        ev = r.get("eval", {})
        uni = res.unigram.get(str(size), {})
        rows.append([model, f"{size:,}", str(r.get("train", {}).get("global_step", "?")),
                     f"{ev.get('eval_accuracy', float('nan')):.3f}", f"{ev.get('eval_loss', float('nan')):.3f}",
                     f"{uni['unigram_cross_entropy']:.3f}" if uni else "–", f"{c['duration_s'] / 60:.1f}"])
    lines = ["Held-out MLM loss (nats per masked token) beside the no-context reference: the cross-entropy of the "
             "pre-training set's unigram distribution on the same held-out tokens (`experiments.unigram`). A loss "
             "near the reference means the model learned token frequencies, not yet context.", "",
             *table(["model", "pre-training sequences", "steps", "held-out masked-token accuracy", "held-out MLM loss",
                     "unigram reference", "minutes"], rows)]
    return lines + [""] + commands(res, ("pretrain", "unigram"))


def pretraining_summary(res: Results) -> list[str]:
    """How far pre-training got: the held-out MLM losses against the no-context unigram reference."""
    gaps = [c["results"]["eval"]["eval_loss"] - res.unigram[str(size)]["unigram_cross_entropy"]
            for (_, size), c in res.pretrain.items() if str(size) in res.unigram and "eval" in c["results"]]
    if not gaps:
        return []
    return [f"How far pre-training got: every pre-trained model's held-out MLM loss lies between "
            f"{min(gaps):+.2f} and {max(gaps):+.2f} nats of the no-context unigram reference on the same tokens "
            "(see Pre-training runs); below it means context is being used. The fine-tuning gains below should be "
            "read with that in mind.", ""]


def unigram_note(res: Results) -> str:
    """One sentence comparing the deep model's held-out MLM loss at its largest size with the unigram reference."""
    size = max(res.grid.deep_sizes)
    cell, uni = res.pretrain.get((res.grid.deep.name, size)), res.unigram.get(str(size))
    if not cell or not uni:
        return ""
    loss = cell["results"].get("eval", {}).get("eval_loss")
    return (f" For scale: the deep model's held-out MLM loss after pre-training on {size:,} sequences is {loss:.2f} "
            f"nats against {uni['unigram_cross_entropy']:.2f} for a no-context unigram model (see Pre-training runs).")


def finetune_table(res: Results, task: str) -> list[str]:
    g = res.grid
    rows = []
    for model in [g.deep, *g.members]:
        sizes = list(g.deep_sizes) if model is g.deep else [g.member_size]
        for size in [None, *sizes]:
            acc = res.accuracies(model.name, size, task)
            if not acc:
                continue
            rows.append([model.label or model.name, size_label(size), pct(acc.values()),
                         pct(res.accuracies(model.name, size, task, "test_macro_f1").values()),
                         pct(v["validation"].get("eval_accuracy", float("nan"))
                             for v in res.finetune[(model.name, size, task)].values())])
    tf = res.tfidf.get(task, {})
    if tf:
        rows.append(["TF-IDF + logistic regression", "–", pct(res.tfidf_accuracies(task).values()),
                     pct(res.tfidf_accuracies(task, "test_macro_f1").values()),
                     pct(r["validation"]["eval_accuracy"] for r in tf.values())])
    return [f"Labelled data: {trained_per_class(res.cells, lambda meta: meta.get('task') == task)}.", "",
            *table(["model", "pre-training sequences", "test accuracy %", "test macro-F1 %", "validation accuracy %"],
                   rows)]


def claim1(res: Results) -> tuple[list[str], str]:
    g = res.grid
    size = max(g.deep_sizes)
    rows, verdicts = [], []
    for task in res.tasks:
        for model, n in [(g.deep, size), *[(m, g.member_size) for m in g.members]]:
            gains = res.gains(model.name, n, task)
            if not gains:
                continue
            mean, low, high = t_interval(gains)
            rows.append([task, model.label or model.name, f"{n:,}", pct(res.accuracies(model.name, n, task).values()),
                         pct(res.accuracies(model.name, None, task).values()), ci_text(gains),
                         pct(res.tfidf_accuracies(task).values())])
            if model is g.deep:
                verdicts.append((task, mean, low, high))
    lines = table(["task", "model", "pre-training sequences", "pre-trained %", "from scratch %",
                   "gain, points [95% CI]", "TF-IDF + LR %"], rows)
    if not verdicts:
        return lines, "unclear at this scale"
    positive = [t for t, m, lo, hi in verdicts if lo is not None and lo > 0]
    negative = [t for t, m, lo, hi in verdicts if hi is not None and hi < 0]
    summary = ", ".join(f"{t} {100 * m:+.1f}" for t, m, _, _ in verdicts)
    with_ci = all(lo is not None for _, _, lo, _ in verdicts)
    if len(positive) == len(verdicts):
        v = "reproduced"
    elif negative or (with_ci and all(m <= 0 for _, m, _, _ in verdicts)):
        v = "not reproduced"
    else:
        v = "unclear at this scale"
    why = (f"Deep model pre-trained on {size:,} sequences minus its from-scratch twin, test accuracy points: "
           f"{summary}; the 95% CI excludes 0 (above) on {len(positive)} of {len(verdicts)} tasks"
           + (f" and lies below 0 on {', '.join(negative)}" if negative else "") + ". Rule: reproduced if the "
           "gain's CI lies above 0 on every task; not reproduced if it lies below 0 on some task or no gain is "
           "positive; unclear otherwise." + unigram_note(res))
    return lines + ["", verdict_line("claim 1", v, why)], v


def claim2(res: Results, plots: Path) -> tuple[list[str], str]:
    g = res.grid
    rows, slopes = [], []
    for task in res.tasks:
        xs, ys = [], []
        cells = []
        for n in g.deep_sizes:
            gains = res.gains(g.deep.name, n, task)
            xs += [math.log2(n)] * len(gains)
            ys += gains
            cells.append(ci_text(gains) if gains else "–")
        slope = slope_interval(xs, ys)
        slopes.append((task, slope))
        rows.append([task, *cells, _slope_text(slope), pct(res.tfidf_accuracies(task).values())])
    lines = table(["task", *[f"gain at {n:,} [95% CI]" for n in g.deep_sizes],
                   "slope, points per doubling [95% CI]", "TF-IDF + LR %"], rows)
    png = plot_gain_vs_size(res, plots)
    lines += ["", f"![gain vs pre-training size]({png})", ""]
    ok = [(t, s) for t, s in slopes if s.low is not None]
    up = [t for t, s in ok if s.low > 0]
    down = [t for t, s in ok if s.high < 0]
    if ok and len(up) == len(res.tasks):
        v = "reproduced"
    elif down or (len(ok) == len(res.tasks) and all(s.value <= 0 for _, s in ok)):
        v = "not reproduced"
    else:
        v = "unclear at this scale"
    why = ("Slope of the per-seed gain against log2(pre-training size), fitted over all sizes and seeds: "
           + ", ".join(f"{t} {_slope_text(s)}" for t, s in slopes)
           + ". Rule: reproduced if the slope's CI lies above 0 on every task; not reproduced if it lies below 0 on "
           "some task or no slope is positive; unclear otherwise.")
    return lines + [verdict_line("claim 2", v, why)], v


def _slope_text(slope: Interval) -> str:
    if slope.low is None:
        return "n/a (too few points)"
    return f"{100 * slope.value:+.2f} [{100 * slope.low:+.2f}, {100 * slope.high:+.2f}]"


class OverlapPoint(NamedTuple):
    """One (task, pre-training size) point of claim 3: its token overlap and its mean gain."""

    task: str
    size: int
    token_share: float
    gain: float


def claim3(res: Results, plots: Path) -> tuple[list[str], str]:
    g = res.grid
    rows, points = [], []
    for task in res.tasks:
        for n in g.deep_sizes:
            row = res.overlap.get((n, task))
            gains = res.gains(g.deep.name, n, task)
            if row is None or not gains:
                continue
            row10 = res.overlap10.get((n, task), {})
            mean = float(np.mean(gains))
            points.append(OverlapPoint(task, n, row["token_share"], mean))
            rows.append([task, f"{n:,}", f"{100 * row['token_share']:.1f}", f"{100 * row['type_share']:.1f}",
                         f"{100 * row10['token_share']:.1f}" if row10 else "–", ci_text(gains),
                         pct(res.tfidf_accuracies(task).values())])
    lines = table(["task", "pre-training sequences", "token overlap % (tokens seen ≥1×)", "type overlap %",
                   "token overlap % (seen ≥10×)", "gain, points [95% CI]", "TF-IDF + LR %"], rows)
    if not points:
        return lines, "unclear at this scale"
    png = plot_gain_vs_overlap(res, points, plots)
    lines += ["", f"![gain vs token overlap]({png})", ""]
    shares = [p.token_share for p in points]
    if max(shares) - min(shares) < MIN_OVERLAP_SPREAD:
        why = (f"Token overlap runs only from {100 * min(shares):.1f}% to {100 * max(shares):.1f}% over the "
               f"{len(points)} (task, size) points: the tokenizer covers every task almost wholly, so overlap does not "
               "vary and no gain can be set against it. Testing the claim needs a design in which overlap varies by "
               f"at least {100 * MIN_OVERLAP_SPREAD:.0f} points, e.g. a pre-training corpus or tokenizer that leaves "
               "out a task's domain. Rule: not testable when the spread is below that.")
        v = "not testable with this design"
        return lines + [verdict_line("claim 3", v, why)], v
    r, low, high = correlation_interval([p.token_share for p in points], [p.gain for p in points])
    # Across tasks at each size: does the task with more overlap gain more? (Spearman over the tasks.)
    from scipy.stats import spearmanr

    across = []
    for n in g.deep_sizes:
        at = [p for p in points if p.size == n]
        if len(at) >= 3:
            across.append(float(spearmanr([p.token_share for p in at], [p.gain for p in at]).statistic))
    if across and all(a > 0.99 for a in across) and low is not None and low > 0:
        v = "reproduced"
    elif across and all(a < -0.99 for a in across) and high is not None and high < 0:
        v = "not reproduced"
    else:
        v = "unclear at this scale"
    ci = f" [{low:+.2f}, {high:+.2f}]" if low is not None else ""
    why = (f"Pearson r between token overlap and mean gain over all (task, size) points: {r:+.2f}{ci} (n = "
           f"{len(points)}); rank correlation across the {len(res.tasks)} tasks at each size: "
           f"{', '.join(f'{a:+.1f}' for a in across) or 'n/a'}. Within a task, overlap and size grow together, so the "
           "pooled r mixes the size effect in; the across-task ranks are the cleaner test but have only "
           f"{len(res.tasks)} points. Rule: reproduced if the across-task rank correlation is +1 at every size and the "
           "pooled r's CI lies above 0; not reproduced if it is -1 at every size and the pooled r's CI lies below 0; "
           "unclear otherwise.")
    return lines + [verdict_line("claim 3", v, why)], v


def claim4(res: Results, plots: Path) -> tuple[list[str], str]:
    g = res.grid
    size = max(g.deep_sizes)
    full = tuple(range(len(g.members)))
    rows, diffs = [], []
    for task in res.tasks:
        deep = res.alone_accuracies(task, None)
        rows.append([task, f"{g.deep.label}, pre-trained on {size:,}", pct(deep.values()), "–"])
        for i, m in enumerate(g.members):
            acc = res.alone_accuracies(task, i)
            rows.append([task, m.label, pct(acc.values()), ci_text([acc[s] - deep[s] for s in acc if s in deep])])
        for seed_result in list(res.committee.get(task, {}).values())[:1]:
            for c in seed_result["committees"]:
                acc = res.committee_accuracies(task, tuple(c["members"]))
                d = [acc[s] - deep[s] for s in acc if s in deep]
                names = " + ".join(g.members[i].name for i in c["members"])
                rows.append([task, f"soft committee: {names}", pct(acc.values()), ci_text(d)])
                if tuple(c["members"]) == full:
                    diffs.append((task, d))
        rows.append([task, "TF-IDF + logistic regression", pct(res.tfidf_accuracies(task).values()), "–"])
    lines = ["Every accuracy in this table comes from the committee cells, which evaluate the deep model, each member "
             "and each committee on the same test rows through one path (a reloaded checkpoint; the fine-tuning "
             "tables above report train_cls.py's own in-process evaluation). " + consistency_note(res), "",
             *table(["task", "model", "test accuracy %", "minus deep model, points [95% CI]"], rows)]
    lines += [""] + latency_table(res)
    png = plot_accuracy_vs_latency(res, plots)
    if png:
        lines += ["", f"![accuracy vs latency]({png})", ""]
    if not diffs or res.latency is None:
        return lines, "unclear at this scale"
    figures = res.latency["figures"]
    committee_name = " + ".join(res.latency["members"][i] for i in full)
    fused, deep_ms = figures[committee_name]["p50_ms"], figures["deep"]["p50_ms"]
    # Measured with every member in its own process at once where the latency cell did so; older cells have only
    # the estimate (the slowest member timed alone), and the verdict says which it used.
    measured = "concurrent_p50_ms" in figures[committee_name]
    parallel = figures[committee_name]["concurrent_p50_ms" if measured else "parallel_p50_ms"]
    how = ("measured with every member in its own one-thread process at once"
           + (" (more members than cores: they share them)" if figures[committee_name].get("members_share_cores") else "")
           if measured else "estimated as the slowest member timed alone, not measured concurrently")
    means = {t: float(np.mean(d)) for t, d in diffs}
    worse = [t for t, d in diffs if t_interval(d).high is not None and t_interval(d).high < 0
             and np.mean(d) < -MATCH_MARGIN]
    matches = all(m >= -MATCH_MARGIN for m in means.values())
    faster = parallel < deep_ms
    with_ci = all(t_interval(d).low is not None for _, d in diffs)
    if matches and faster and with_ci:
        v = "reproduced"
    elif worse or (not faster and with_ci):
        v = "not reproduced"
    else:
        v = "unclear at this scale"
    why = (f"Committee of all {len(full)} members minus the deep model (pre-trained on {size:,}), test accuracy "
           f"points: {', '.join(f'{t} {100 * m:+.1f}' for t, m in means.items())}. Batch-1 p50 latency: deep "
           f"{deep_ms:.2f} ms, committee {fused:.2f} ms on one core (fused) and {parallel:.2f} ms with one core per "
           f"member ({how}). Rule: reproduced if the committee is at most {100 * MATCH_MARGIN:.0f} point below the deep model "
           "on every task and faster with one core per member (the paper's low-latency setting); not reproduced if "
           f"it is significantly (CI below 0) more than {100 * MATCH_MARGIN:.0f} point worse on some task, or not "
           "faster; unclear otherwise.")
    return lines + [verdict_line("claim 4", v, why)], v


def consistency_note(res: Results) -> str:
    """How far the committee cells' reloaded evaluations are from the fine-tuning cells' own test accuracies."""
    g, gaps = res.grid, []
    for task in res.tasks:
        for i, m in [(None, g.deep), *enumerate(g.members)]:
            size = max(g.deep_sizes) if i is None else g.member_size
            own = res.accuracies(m.name, size, task)
            gaps += [abs(acc - own[s]) for s, acc in res.alone_accuracies(task, i).items() if s in own]
    if not gaps:
        return ""
    return (f"Check: on the same checkpoints and test rows the two evaluations differ by {100 * np.mean(gaps):.2f} "
            f"points on average (at most {100 * max(gaps):.2f}) over {len(gaps)} checkpoints; a non-zero gap means "
            "train_cls.py's in-process model and its saved checkpoint do not compute quite the same thing, which is "
            "reported as a bug to investigate.")


def latency_table(res: Results) -> list[str]:
    if res.latency is None:
        return ["(latency cell not finished)"]
    lat = res.latency
    names = latency_names(res)
    rows = []
    committees = sorted((n for n, f in lat["figures"].items() if "members" in f),
                        key=lambda n: (len(lat["figures"][n]["members"]), n))
    order = ["deep", *lat["members"], *committees]
    for name in order:
        f = lat["figures"][name]
        # A committee's FLOPs are its members' (the fused path's batched kernels are not all seen by the counter).
        gflops = sum(lat["figures"][m]["gflops"] for m in f["members"]) if "members" in f else f["gflops"]
        rows.append([names.get(name, name), f"{f['parameters'] / 1e6:.2f}M", f"{gflops:.3f}", f"{f['p50_ms']:.2f}",
                     f"{f['p95_ms']:.2f}", f"{f['parallel_p50_ms']:.2f}" if "parallel_p50_ms" in f else "–",
                     f"{f['concurrent_p50_ms']:.2f}" if "concurrent_p50_ms" in f else "–"])
    head = (f"Batch-1 latency, fp32, {lat['threads']} torch thread(s), {lat['sequence_tokens']}-token {lat['task']} "
            f"test sequence (median length), {next(iter(lat['figures'].values()))['calls']} calls each, round-robin:")
    return [head, ""] + table(["model", "parameters", "GFLOPs", "p50 ms", "p95 ms",
                               "p50 ms, one core per member (estimate: slowest member alone)",
                               "p50 ms, members in concurrent processes (measured)"], rows)


def latency_names(res: Results) -> dict[str, str]:
    """Latency figure name (checkpoint folder names) -> model names of the grid."""
    g, lat = res.grid, res.latency
    members = dict(zip(lat["members"], (m.name for m in g.members)))
    names = {"deep": f"{g.deep.name} (pre-trained on {max(g.deep_sizes):,})", **members}
    for name, f in lat["figures"].items():
        if "members" in f:
            names[name] = "committee: " + " + ".join(members[m] for m in f["members"])
    return names


# ----------------------------------------------------------------------------------------------------------------
# Plots
# ----------------------------------------------------------------------------------------------------------------


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def task_label(res: Results, task: str) -> str:
    """The task's legend entry, with the TF-IDF peer's accuracy beside it."""
    tf = res.tfidf_accuracies(task)
    return f"{task} (TF-IDF + LR: {100 * np.mean(list(tf.values())):.1f}%)" if tf else task


def plot_gain_vs_size(res: Results, plots: Path) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for task in res.tasks:
        sizes, means, errs = [], [], []
        for n in res.grid.deep_sizes:
            gains = res.gains(res.grid.deep.name, n, task)
            if gains:
                mean, low, high = t_interval(gains)
                sizes.append(n)
                means.append(100 * mean)
                errs.append(100 * (high - mean) if high is not None else 0)
        ax.errorbar(sizes, means, yerr=errs, marker="o", capsize=3, label=task_label(res, task))
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xscale("log")
    ax.set_xticks(res.grid.deep_sizes, [f"{n:,}" for n in res.grid.deep_sizes])
    ax.minorticks_off()
    ax.set_xlabel("pre-training sequences (deep model)")
    ax.set_ylabel("gain over from scratch, accuracy points (95% CI)")
    ax.set_title(f"grid {res.grid.name}: pre-training gain vs size")
    ax.legend()
    return _save(fig, plots, "gain_vs_size.png")


def plot_gain_vs_overlap(res: Results, points, plots: Path) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for task in res.tasks:
        pts = [p for p in points if p.task == task]
        ax.plot([100 * p.token_share for p in pts], [100 * p.gain for p in pts], marker="o", label=task_label(res, task))
        for p in pts:
            ax.annotate(f"{p.size:,}", (100 * p.token_share, 100 * p.gain), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("token overlap with the pre-training set, % of task tokens")
    ax.set_ylabel("mean gain over from scratch, accuracy points")
    ax.set_title(f"grid {res.grid.name}: gain vs token overlap (labels: pre-training size)")
    ax.legend()
    return _save(fig, plots, "gain_vs_overlap.png")


def plot_accuracy_vs_latency(res: Results, plots: Path) -> str | None:
    if res.latency is None:
        return None
    plt = _plt()
    g, figures = res.grid, res.latency["figures"]
    names = res.latency["members"]  # fine-tune cell ids of the members, in grid order
    fig, axes = plt.subplots(1, len(res.tasks), figsize=(5 * len(res.tasks), 4), squeeze=False)
    for ax, task in zip(axes[0], res.tasks):
        deep = res.alone_accuracies(task, None)
        if deep:
            ax.scatter(figures["deep"]["p50_ms"], 100 * np.mean(list(deep.values())), marker="s", s=60, color="C3",
                       label=g.deep.label)
        for i, m in enumerate(g.members):
            acc = res.alone_accuracies(task, i)
            if acc:
                ax.scatter(figures[names[i]]["p50_ms"], 100 * np.mean(list(acc.values())), color="C0",
                           label="members" if i == 0 else None)
                ax.annotate(m.name, (figures[names[i]]["p50_ms"], 100 * np.mean(list(acc.values()))), fontsize=7)
        first = True
        for key, f in figures.items():
            if "members" not in f:
                continue
            acc = res.committee_accuracies(task, tuple(names.index(n) for n in f["members"]))
            if acc:
                y = 100 * np.mean(list(acc.values()))
                ax.scatter(f["p50_ms"], y, marker="^", color="C2", label="committees, one core" if first else None)
                ax.scatter(f["parallel_p50_ms"], y, marker="^", facecolors="none", edgecolors="C2",
                           label="committees, one core per member" if first else None)
                first = False
        tf = res.tfidf_accuracies(task)
        if tf:
            ax.axhline(100 * np.mean(list(tf.values())), color="grey", ls="--", lw=0.8, label="TF-IDF + LR")
        ax.set_title(task)
        ax.set_xlabel("batch-1 p50 latency, ms")
        ax.set_ylabel("test accuracy %")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"grid {g.name}: accuracy vs latency")
    return _save(fig, plots, "accuracy_vs_latency.png")


def _save(fig, plots: Path, name: str) -> str:
    plots.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(plots / name, dpi=110)
    _plt().close(fig)
    return str(plots / name)


# ----------------------------------------------------------------------------------------------------------------
# The document
# ----------------------------------------------------------------------------------------------------------------


def report_lines(grid_name: str, results_dir: Path, depth: int = 1, title: bool = True) -> tuple[list[str], dict]:
    """The report's Markdown lines (sections at heading level `depth` + 1, under its title unless `title` is off)
    and its verdicts. Plot links are relative to the working directory."""
    grid = get_grid(grid_name)
    res = Results(grid, load_cells(results_dir, grid_name))
    plots_dir = results_dir / grid_name / "plots"
    h = "#" * depth
    c1, v1 = claim1(res)
    c2, v2 = claim2(res, plots_dir)
    c3, v3 = claim3(res, plots_dir)
    c4, v4 = claim4(res, plots_dir)
    verdicts = {"pre-training beats training from scratch": v1, "the gain grows with pre-training size": v2,
                "the gain grows with token overlap": v3,
                "a soft committee of BERT-1s matches BERT-6 at lower latency": v4}
    heading = [f"{h} Results: reproducing \"Tiny language models\" (arXiv 2507.14871), grid `{grid_name}`", "",
               "Generated by `python -m experiments.report --grid " + grid_name + "` from the per-cell JSONs; do not "
               "edit by hand.", ""]
    lines = [*(heading if title else []), f"{h}# Verdicts", "",
             *table(["claim", "verdict"], [[k, v] for k, v in verdicts.items()]), "", *pretraining_summary(res),
             f"{h}# Setup", "", *section_setup(res, results_dir), "",
             f"{h}# Fine-tuning results per task", "",
             "Test accuracy and macro-F1 (mean ± sd over seeds); checkpoints chosen on the validation slice only "
             "(train_cls.py loads the best-validation checkpoint before its one test evaluation); the TF-IDF peer's "
             "n-grams and C were chosen on the same validation slice.", ""]
    for task in res.tasks:
        lines += [f"{h}## {task}", "", *finetune_table(res, task), ""]
    lines += commands(res, ("finetune", "tfidf")) + [""]
    lines += [f"{h}# Claim 1: pre-training beats training from scratch", "", *c1, "",
              f"{h}# Claim 2: the gain grows with pre-training size", "", *c2, "",
              f"{h}# Claim 3: the gain grows with token overlap", "", *c3, "", *commands(res, ("overlap",)), "",
              f"{h}# Claim 4: a soft committee of shallow models matches the deep model at lower latency", "", *c4,
              "", *commands(res, ("committee", "latency")), "",
              f"{h}# Pre-training runs", "", *section_pretraining(res), ""]
    return lines, verdicts


def render(grid_name: str, results_dir: Path, output: Path) -> dict:
    lines, verdicts = report_lines(grid_name, results_dir)
    text = "\n".join(lines)
    plots_dir = results_dir / grid_name / "plots"
    if output.parent.resolve().is_relative_to(Path.cwd().resolve()):  # image links relative to the report
        rel = Path(*([".."] * len(output.parent.resolve().relative_to(Path.cwd().resolve()).parts)))
        text = text.replace(f"]({plots_dir}", f"]({(rel / plots_dir).as_posix()}")
    output.write_text(text)
    return verdicts


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--grid", required=True, choices=list(GRIDS))
    p.add_argument("--results_dir", default="results")
    p.add_argument("--output", default=None,
                   help="default: RESULTS.md for the recipe grids and tapt (sections of it), "
                        "<results_dir>/<grid>/REPORT.md for the others")
    args = p.parse_args(argv)
    if isinstance(get_grid(args.grid), (RecipeGrid, TaptGrid)):  # sections of RESULTS.md
        from .report_recipe import render as render_recipe

        output = Path(args.output or "RESULTS.md")
        verdicts = render_recipe(get_grid("recipe"), Path(args.results_dir), output)
    else:
        output = Path(args.output or Path(args.results_dir) / args.grid / "REPORT.md")
        verdicts = render(args.grid, Path(args.results_dir), output)
    print(f"wrote {output}: " + "; ".join(f"{k}: {v}" for k, v in verdicts.items()))


if __name__ == "__main__":
    run_cli(main)
