"""The experiment runner (experiments/): grids expand into consistent cells; on the `tiny` grid a run killed after
its first cell resumes without redoing it and completes, a rerun skips everything, and the report writes RESULTS.md
with its plots."""

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experiments.grids import GRIDS, Grid, get_grid
from experiments.recipe_grid import BERT_TOKENIZER
from experiments.report import report_lines
from experiments.cells import Cell
from experiments.run import Estimator, check_order
from experiments.stats import correlation_interval, slope_interval, t_interval

ROOT = Path(__file__).resolve().parents[1]


def _flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


@pytest.mark.parametrize("name", [name for name, grid in GRIDS.items() if isinstance(grid, Grid)])
def test_grid_cells_are_ordered_and_share_samples(name):
    grid = get_grid(name)
    cells = grid.cells("DATA", "WORK")
    check_order(cells)  # dependencies come first, ids are unique
    by_id = {c.id: c for c in cells}
    finetunes = [c for c in cells if c.kind == "finetune"]
    assert len(finetunes) == len(grid.tasks) * len(grid.seeds) * (
        len(grid.deep_sizes) + len(grid.members) + 1 + (len(grid.members) if grid.scratch_members else 0))
    for c in finetunes:
        if "--from_scratch" in c.argv:
            assert not c.deps and c.meta["pre_train_size"] is None
        else:  # fine-tunes exactly the checkpoint its pre-training cell writes
            assert by_id[c.deps[0]].output_dir == _flag(c.argv, "--model_name_or_path")
        # The TF-IDF peer of the same task and seed draws the same labelled sample.
        peer = by_id[f"tfidf-{c.meta['task']}-s{c.meta['seed']}"]
        for flag in ("--task_name", "--samples_per_label_train", "--samples_per_label_test", "--seed", "--data_dir"):
            assert _flag(peer.argv, flag) == _flag(c.argv, flag)
    assert {c.meta["pre_train_size"] for c in cells if c.kind == "overlap"} == set(grid.deep_sizes)


def test_recipe_grid_cells():
    """Budgeted pre-training runs alone; every fine-tuning cell has its from-scratch twin (the recipe's architecture
    and tokenizer) and TF-IDF peer on the same sample; ablations change only their own flags."""
    grid = get_grid("recipe")
    cells = grid.cells("DATA", "WORK")
    check_order(cells)
    by_id = {c.id: c for c in cells}
    for minutes in grid.budgets:
        cell = by_id[f"pt-{minutes:g}m"]
        assert cell.exclusive and _flag(cell.argv, "--recipe") == grid.recipe
        assert float(_flag(cell.argv, "--max_train_minutes")) == minutes
    for variant in grid.variants:  # a variant is the recipe plus its own flags, alone on the machine
        cell = by_id[f"pt-{variant.minutes:g}m-{variant.name}"]
        assert cell.exclusive and cell.argv[-2 - len(variant.flags):-2] == list(variant.flags)
    # (fine-tuning searches have their own test)
    finetunes = [c for c in cells if c.kind == "finetune" and "ablation" not in c.meta and "search" not in c.meta]
    extra = set(grid.headline_seeds) - set(grid.seeds)  # the headline budget and its twin only
    own_twins = [v for v in grid.variants if v.own_twin]
    assert len(finetunes) == len(grid.settings) * (
        len(grid.seeds) * (len(grid.budgets) + 1 + len(grid.variants) + len(own_twins)) + 2 * len(extra))
    for variant in own_twins:  # an architecture change has its own twin: the same architecture, random weights
        for c in (c for c in finetunes if c.meta.get("variant") == variant.name):
            key, seed = c.meta["setting"], c.meta["seed"]
            twin, recipe_twin = by_id[f"ft-scratch-{variant.name}-{key}-s{seed}"], by_id[f"ft-scratch-{key}-s{seed}"]
            assert _flag(twin.argv, "--config_overrides") == variant.config_overrides
            differ = (variant.config_overrides, _flag(recipe_twin.argv, "--config_overrides"),
                      _flag(twin.argv, "--output_dir"), _flag(recipe_twin.argv, "--output_dir"))
            assert [a for a in twin.argv if a not in differ] == [a for a in recipe_twin.argv if a not in differ]
    for c in (c for c in finetunes if "--from_scratch" not in c.argv):
        key, seed = c.meta["setting"], c.meta["seed"]
        twin, peer = by_id[f"ft-scratch-{key}-s{seed}"], by_id[f"tfidf-{key}-s{seed}"]
        for flag in ("--task_name", "--samples_per_label_train", "--samples_per_label_test", "--seed"):
            assert _flag(peer.argv, flag) == _flag(c.argv, flag) == _flag(twin.argv, flag)
        assert [a for a in c.argv if a.startswith("--") and a != "--model_name_or_path"] == \
            [a for a in twin.argv if a.startswith("--") and a not in ("--from_scratch", "--model_preset",
                                                                        "--config_overrides", "--tokenizer_name")]
    assert _flag(by_id["ft-scratch-ag_news-1000-s0"].argv, "--tokenizer_name").endswith("wikipedia-wordpiece-8k")
    vocab = by_id["abl-vocab-30k"]
    assert _flag(vocab.argv, "--tokenizer_name") == "DATA/bert-base-uncased" and BERT_TOKENIZER not in vocab.argv
    assert not by_id["abl-recipe"].exclusive and by_id["abl-recipe-fewrel-32-s0"].deps == ["abl-recipe"]


def test_fine_tuning_search_is_chosen_on_validation_for_both_sides():
    """The search fine-tunes the pre-trained model and its twin at the same extra rates (same epochs, seeds); the
    report picks each model's rate per seed by validation accuracy only, and pairs the chosen runs by seed."""
    from experiments.recipe_grid import RECIPE_HEADLINE as GRID
    from experiments.report_recipe import RecipeResults, chosen_on_validation, section_searches

    search = GRID.searches[0]
    base = next(s for s in GRID.settings if s.key == search.setting_key)
    cells = GRID.cells("DATA", "WORK")
    ours = [c for c in cells if c.meta.get("search") == search.setting_key]
    assert len(ours) == 2 * len(search.learning_rates) * len(search.seeds)
    for c in ours:
        assert _flag(c.argv, "--num_train_epochs") == f"{base.epochs:g}"
        assert float(_flag(c.argv, "--learning_rate")) in search.learning_rates
        assert c.deps == ([f"pt-{search.budget:g}m"] if c.meta["budget_minutes"] else [])
    # validation decides; the lower rate wins a tie; test accuracy plays no part
    assert chosen_on_validation([(5e-4, 0.80, 0.99), (1e-3, 0.85, 0.60), (1e-4, 0.85, 0.70)]) == (1e-4, 0.70)

    # Recorded cells: the pre-trained model is best on validation at 1e-4 (test 0.86), the twin at 5e-4 (test 0.82).
    def record(cell, validation, test):
        return dict(id=cell.id, kind=cell.kind, argv=cell.argv, meta=cell.meta,
                    results=dict(validation=dict(eval_accuracy=validation), test_accuracy=test))

    recorded = []
    for c in cells:  # the search's cells and the setting's own runs of both models
        if c.kind != "finetune" or "variant" in c.meta or "twin_of" in c.meta or "ablation" in c.meta:
            continue
        if c.meta["setting"] != search.setting_key or c.meta["budget_minutes"] not in (0, search.budget):
            continue
        lr, pre = float(_flag(c.argv, "--learning_rate")), c.meta["budget_minutes"] > 0
        best = lr == (1e-4 if pre else base.learning_rate)
        recorded.append(record(c, 0.9 if best else 0.8, (0.86 if pre else 0.82) if best else 0.5))
    res = RecipeResults(GRID, recorded)
    text = "\n".join(section_searches(res))
    seeds = len(search.seeds)
    assert f"| {', '.join(['0.0001'] * seeds)} |" in text and f"| {', '.join(['0.0005'] * seeds)} |" in text
    assert f"| {seeds} | +4.0 " in text  # 86 - 82 on every seed
    # the search's cells are candidates only: the headline comparison still sees the setting's own runs
    assert res.finetune[(search.budget, search.setting_key)] == {s: 0.5 for s in GRID.headline_seeds}


def test_fine_tuning_dropout_grid_changes_only_dropout_on_both_sides():
    """recipe-ft-dropout is recipe-headline's fine-tuning with dropout 0.1 for the pre-trained model and its twin
    alike; the twin's own --config_overrides (the recipe's, dropout off) is replaced, its architecture is not."""
    from transformers import HfArgumentParser

    from experiments.cells import NO_DROPOUT
    from experiments.recipe_grid import FINETUNE_DROPOUT, RECIPE_FT_DROPOUT, RECIPE_HEADLINE
    from modeling_tlm.training.arguments import ClassificationModelArguments
    from modeling_tlm.training.build import parse_config_overrides

    ours = {c.id: c for c in RECIPE_FT_DROPOUT.cells("DATA", "WORK")}
    theirs = {c.id: c for c in RECIPE_HEADLINE.cells("DATA", "WORK") if "search" not in c.meta}
    assert set(ours) == set(theirs)
    finetunes = [c for c in ours.values() if c.kind == "finetune"]
    assert {c.meta["seed"] for c in finetunes} == set(range(10)) and len(finetunes) == 20
    dropout = parse_config_overrides(FINETUNE_DROPOUT)
    assert dropout == dict(hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    for c in finetunes:  # what train_cls.py's parser sees: the last --config_overrides wins
        model_args, _ = HfArgumentParser(ClassificationModelArguments).parse_args_into_dataclasses(
            c.argv[1:], return_remaining_strings=True)
        assert parse_config_overrides(model_args.config_overrides) == dropout
        dropout_flags = ("--config_overrides", FINETUNE_DROPOUT, NO_DROPOUT)  # all else is recipe-headline's
        assert [a for a in c.argv if a not in dropout_flags] == \
            [a.replace("recipe-headline", "recipe-ft-dropout") for a in theirs[c.id].argv if a not in dropout_flags]
    pt = ours["pt-60m"]
    assert pt.argv == [a.replace("recipe-headline", "recipe-ft-dropout") for a in theirs["pt-60m"].argv]


def test_tapt_grid_differs_only_where_it_means_to():
    """The continued runs differ from each other only in their corpus; each task-adaptive model is fine-tuned on
    its own task only; every fine-tuned model and the twin get dropout 0.1 and the twin keeps the base's ALiBi."""
    from transformers import HfArgumentParser

    from experiments.tapt_grid import TAPT
    from modeling_tlm.training.arguments import ClassificationModelArguments
    from modeling_tlm.training.build import parse_config_overrides

    cells = {c.id: c for c in TAPT.cells("DATA", "WORK")}
    continued = [c for c in cells.values() if c.kind == "pretrain" and c.deps == ["pt-base"]]
    assert {c.meta["corpus"] for c in continued} == {"wikipedia", "ag_news", "dbpedia_14"}
    corpus = continued[0].argv.index("--dataset_name") + 1
    masked = {tuple(a for i, a in enumerate(c.argv) if i != corpus and "WORK/tapt/pt-" + c.meta["model"] != a)
              for c in continued}
    assert len(masked) == 1 and all(c.exclusive for c in continued)
    assert "--max_steps" in cells["pt-base"].argv and "--max_steps" in continued[0].argv  # schedules by steps
    for c in (c for c in cells.values() if c.kind == "finetune"):
        assert not c.meta["model"].startswith("tapt-") or c.meta["model"] == f"tapt-{c.meta['task']}"
        model_args, _ = HfArgumentParser(ClassificationModelArguments).parse_args_into_dataclasses(
            c.argv[1:], return_remaining_strings=True)
        overrides = parse_config_overrides(model_args.config_overrides)
        assert overrides["hidden_dropout_prob"] == overrides["attention_probs_dropout_prob"] == 0.1
        assert overrides.get("alibi") == (True if c.meta["model"] == "scratch" else None)
    per_setting = {(s.key, seed) for s in TAPT.settings for seed in TAPT.seeds}
    assert {(c.meta["setting"], c.meta["seed"]) for c in cells.values() if c.kind == "tfidf"} == per_setting


def test_tapt_report_pairs_each_model_with_the_same_seeds(tmp_path):
    """The section's paired gains, from records the shape the runner writes: the interval is over matched seeds."""
    from experiments.report_tapt import section_tapt
    from experiments.tapt_grid import TAPT

    folder = tmp_path / TAPT.name
    folder.mkdir()
    offset = {"base": 0.80, "wiki": 0.81, "tapt-ag_news": 0.85, "tapt-dbpedia_14": 0.90, "scratch": 0.78}
    for c in TAPT.cells("DATA", "WORK"):
        if c.kind == "pretrain":
            continue
        seed = c.meta["seed"]
        accuracy = (0.86 if c.kind == "tfidf" else offset[c.meta["model"]]) + 0.001 * seed * (seed % 2)
        results = {"test_accuracy": accuracy, "data_sizes": {"train": 4000, "validation": 400}, "num_labels": 4}
        record = {"id": c.id, "kind": c.kind, "status": "done", "meta": c.meta, "results": results,
                  "machine": {"cpu": "test"}, "duration_s": 1.0}
        (folder / f"{c.id}.json").write_text(json.dumps(record))
    text = "\n".join(section_tapt(tmp_path))
    ag_news = text.split("### ag_news")[1].split("###")[0]
    assert "1000 per class trained on, 400 validation examples" in ag_news
    assert "| the task's text beyond more steps | base + ag_news training texts (task-adaptive) − base + more " \
           "Wikipedia | +4.0 [+4.0, +4.0] | +4.0 [+4.0, +4.0] (5 looks) | 5 of 5 | yes |" in ag_news
    assert "| base against TF-IDF | base (Wikipedia) − TF-IDF | -6.0 [-6.0, -6.0] | -6.0 [-6.0, -6.0] (5 looks) | " \
           "0 of 5 | no |" in ag_news


def test_tapt_runs_repeat_the_tapt_grids_commands_with_other_pretraining_seeds():
    """Each further run is the tapt grid's base model and AG News continuation with --seed added, fine-tuned with the
    same seeds; it has no controls of its own, and a run's fine-tuning comes before the next run's pre-training."""
    from experiments.tapt_grid import TAPT, TAPT_RUNS

    theirs = {c.id: c for c in TAPT.cells("DATA", "WORK")}
    ours = TAPT_RUNS.cells("DATA", "WORK")
    assert {c.meta["model"] for c in ours} == {"base", "tapt-ag_news"}
    assert not [c for c in ours if c.kind == "tfidf" or c.meta["model"] == "scratch"]
    for c in ours:
        run = c.meta["run"]
        twin = theirs[c.id.replace(f"-p{run}", "")]
        argv = [a.replace(f"-p{run}", "").replace("tapt-runs", "tapt") for a in c.argv]
        if c.kind == "pretrain":
            at = argv.index("--seed")
            assert argv[at + 1] == str(run) and argv[:at] + argv[at + 2:] == twin.argv and c.exclusive
        else:
            assert argv == twin.argv and c.deps == [f"pt-{c.meta['model']}-p{run}"]
    order = [c.meta["run"] for c in ours]
    assert order == sorted(order) and set(order) == set(TAPT_RUNS.pretraining_seeds)  # run by run


def test_a_look_is_corrected_for_every_look_before_it():
    from experiments.grids import GRIDS
    from experiments.looks import LOOKS, corrected_level, looks_at

    assert corrected_level("ag_news-1000", "recipe") == (pytest.approx(1 - 0.05 / 2), 2)
    assert corrected_level("ag_news-1000", "recipe-ft-dropout") == (pytest.approx(1 - 0.05 / 4), 4)
    assert corrected_level("fewrel-32", "recipe")[1] == 2
    assert [look.grid for look in looks_at("ag_news-1000")][-1] == "tapt-runs"
    with pytest.raises(ValueError, match="no look at 'fewrel-630'"):
        looks_at("fewrel-630", "tapt-runs")
    assert {look.grid for look in LOOKS} <= set(GRIDS)


def test_the_report_takes_the_pretraining_run_as_the_unit(tmp_path):
    """Over runs: each run's figure is the mean over its fine-tuning seeds, the interval is over the runs' figures
    (corrected for the looks at the setting); the twin and TF-IDF come from the grid the runs add to."""
    from experiments.report_tapt import section_tapt
    from experiments.stats import t_interval
    from experiments.tapt_grid import TAPT, TAPT_RUNS

    run_offset = {42: 0.0, 1: 0.01, 2: 0.03}  # the task-adaptive model's gain over TF-IDF differs per run
    for grid in (TAPT, TAPT_RUNS):
        (tmp_path / grid.name).mkdir()
        for c in grid.cells("DATA", "WORK"):
            if c.kind == "pretrain" or c.meta.get("task", "ag_news") != "ag_news":
                continue
            seed, model = c.meta["seed"], c.meta.get("model", "tfidf")
            accuracy = {"tfidf": 0.86, "scratch": 0.80, "base": 0.84, "wiki": 0.85}.get(model, 0.85)
            if model.startswith("tapt"):
                accuracy += run_offset[c.meta["run"]] + 0.002 * seed
            results = {"test_accuracy": accuracy, "data_sizes": {"train": 4000, "validation": 400}, "num_labels": 4}
            record = {"id": c.id, "kind": c.kind, "status": "done", "meta": c.meta, "results": results,
                      "machine": {"cpu": "test"}, "duration_s": 1.0}
            (tmp_path / grid.name / f"{c.id}.json").write_text(json.dumps(record))
    text = "\n".join(section_tapt(tmp_path))
    runs = text.split("### Over independent pre-training runs")[1]
    per_run = [-0.01 + off + 0.004 for off in run_offset.values()]  # mean over seeds 0-4 of 0.002 * seed = 0.004
    mean, low, high = t_interval(per_run)
    _, wide_low, wide_high = t_interval(per_run, 1 - 0.05 / 6)  # the sixth look at AG News 1000/label
    row = next(line for line in runs.splitlines() if line.startswith("| task-adaptive against TF-IDF"))
    assert f"| {100 * mean:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}] |" in row
    assert f"| {100 * mean:+.1f} [{100 * wide_low:+.1f}, {100 * wide_high:+.1f}] (6 looks) |" in row
    assert "| 2 of 3 |" in row and row.endswith("| not resolved |")
    assert "| run 42 | run 1 | run 2 |" in runs
    base = next(line for line in runs.splitlines() if line.startswith("| base against TF-IDF"))
    assert base.endswith("| 0 of 3 | no |")


def test_claims_grid_gives_the_committee_the_deep_models_budget():
    """The members are pre-trained independently (their own seeds) on the same sequences as the deep model's
    largest size, and together get the deep model's budget: equal pre-training compute for claim 4."""
    grid = get_grid("claims")
    by_id = {c.id: c for c in grid.cells("DATA", "WORK")}
    deep = [by_id[grid.pretrain_id(grid.deep, n)] for n in grid.deep_sizes]
    members = [by_id[grid.pretrain_id(m, grid.member_size)] for m in grid.members]
    assert all(c.exclusive and _flag(c.argv, "--recipe") == grid.recipe for c in deep + members)
    assert len({_flag(c.argv, "--seed") for c in members} | {_flag(deep[0].argv, "--seed")}) == len(members) + 1
    sampling = {(_flag(c.argv, "--data_sampling_seed"), _flag(c.argv, "--pre_train_size")) for c in members}
    assert sampling == {(_flag(deep[-1].argv, "--data_sampling_seed"), _flag(deep[-1].argv, "--pre_train_size"))}
    assert {_flag(c.argv, "--max_train_minutes") for c in deep} == {f"{grid.pretrain_minutes:g}"}
    member_minutes = sum(float(_flag(c.argv, "--max_train_minutes")) for c in members)
    assert math.isclose(member_minutes, grid.pretrain_minutes, rel_tol=1e-3)


def test_time_left_counts_exclusive_cells_alone_and_names_untimed_kinds():
    """Pending cells cost their kind's mean; exclusive ones run one at a time, the rest `jobs` at a time; a kind with
    no finished cell is named, not priced like another kind."""
    def cell(i, kind, exclusive=False):
        return Cell(f"c{i}", kind, [], "OUT", exclusive=exclusive)

    estimator = Estimator()
    assert estimator.left([cell(0, "pretrain", True)], [], jobs=2) == "~0:00:00 + 1 pretrain cells not yet timed"
    estimator.add("pretrain", 600.0)
    estimator.add("finetune", 60.0)
    pending = [cell(1, "pretrain", True), cell(2, "pretrain", True), *(cell(3 + i, "finetune") for i in range(4)),
               cell(9, "tfidf"), cell(10, "tfidf")]
    # 2 x 600 s alone + 4 x 60 s two at a time = 1,320 s; the TF-IDF cells are not yet timed
    assert estimator.left(pending, [], jobs=2) == "~0:22:00 + 2 tfidf cells not yet timed"


def test_grid_order_check_catches_bad_dependencies():
    cells = get_grid("tiny").cells("DATA", "WORK")
    with pytest.raises(ValueError, match="comes before"):
        check_order(cells[::-1])
    cells[-1].deps.append("no-such-cell")
    with pytest.raises(ValueError, match="unknown cells"):
        check_order(cells)


def test_intervals():
    mean, low, high = t_interval([1.0, 2.0, 3.0])  # sd 1, t(0.975, 2) = 4.3027
    assert mean == 2.0 and math.isclose(high - mean, 4.3027 / math.sqrt(3), rel_tol=1e-4) and low < 0 < high
    assert t_interval([0.5])[1:] == (None, None)
    slope, low, high = slope_interval([0, 1, 2, 3], [0.0, 1.1, 1.9, 3.0])
    assert 0.9 < slope < 1.1 and 0 < low < slope < high
    r, low, high = correlation_interval([1, 2, 3, 4, 5], [5, 4, 3, 2, 1.5])
    assert r < -0.9 and high < 0


def _runner(results: Path, work: Path, data_dir: Path, *extra) -> list[str]:
    return [sys.executable, "-m", "experiments.run", "--grid", "tiny", "--data_dir", str(data_dir), "--workdir",
            str(work), "--results_dir", str(results), "--jobs", "2", *extra]


@pytest.mark.slow
def test_tiny_grid_resumes_after_kill_and_reports(tmp_path, data_dir):
    results, work = tmp_path / "results", tmp_path / "work"
    cells = get_grid("tiny").cells(str(data_dir), str(work))
    folder = results / "tiny"

    # Start the grid and kill it as soon as the first cell has finished.
    first_run = subprocess.Popen(_runner(results, work, data_dir), cwd=ROOT, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    while not list(folder.glob("*.json")) and first_run.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    first_run.send_signal(signal.SIGTERM)
    output = first_run.communicate(timeout=60)[0]
    assert first_run.returncode != 0, output
    finished = {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")}
    assert 1 <= len(finished) < len(cells), output
    assert all(r["status"] == "done" for r in finished.values()), finished

    # Resume: the finished cells are not rerun, the rest completes.
    resumed = subprocess.run(_runner(results, work, data_dir), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"{len(finished)} already done" in resumed.stdout
    records = {c.id: json.loads((folder / f"{c.id}.json").read_text()) for c in cells}
    assert all(r["status"] == "done" for r in records.values())
    for cell_id, before in finished.items():
        assert records[cell_id]["started_at"] == before["started_at"]  # not redone
    for r in records.values():
        assert r["command"].startswith("python ") and r["duration_s"] > 0 and r["results"]
        # given absolute folders, the runner records them relative to the repository's root, where cells run
        assert not any(os.path.isabs(arg) for arg in r["argv"]) and not os.path.isabs(r["log"]), r["argv"]

    # The TF-IDF peer saw exactly the fine-tuning cells' labelled samples.
    tfidf = records["tfidf-dbpedia_14-s0"]["results"]
    finetune = records["ft-deep-scratch-dbpedia_14-s0"]["results"]
    assert tfidf["data_sizes"] == finetune["data_sizes"]
    # The committee cell evaluated every member, the deep model and each committee on the same test rows.
    committee = records["committee-dbpedia_14-s0"]["results"]
    assert [m["name"] for m in committee["members"]] == ["ft-b1-64-dbpedia_14-s0", "ft-b1-conv-64-dbpedia_14-s0"]
    assert committee["references"][0]["name"] == "ft-deep-64-dbpedia_14-s0"
    assert [c["members"] for c in committee["committees"]] == [[0, 1]]
    assert committee["data_sizes"]["test"] == finetune["data_sizes"]["test"]

    # A rerun has nothing left to do.
    again = subprocess.run(_runner(results, work, data_dir), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and f"{len(cells)} already done, 0 to run" in again.stdout, again.stdout

    # Lost outputs (runs/ is not kept between machines): a cell still to run gets the checkpoint it needs back from
    # its dependency's recorded command; the dependency's earlier record is kept, and nothing else reruns.
    pre = next(c for c in cells if c.kind == "pretrain")
    dependent = next(c for c in cells if pre.id in c.deps)
    shutil.rmtree(pre.output_dir)
    (folder / f"{dependent.id}.json").unlink()
    redo = subprocess.run(_runner(results, work, data_dir), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert redo.returncode == 0 and f"{pre.id}: its outputs" in redo.stdout, redo.stdout + redo.stderr
    assert "2 to run" in redo.stdout, redo.stdout
    kept = list((folder / "superseded").glob(f"{pre.id}.*.json"))
    assert [json.loads(p.read_text()) for p in kept] == [records[pre.id]]
    rerun = {c.id: json.loads((folder / f"{c.id}.json").read_text()) for c in cells}
    assert rerun[dependent.id]["deps_started_at"][pre.id] == rerun[pre.id]["started_at"]
    assert rerun[pre.id]["argv"] == records[pre.id]["argv"] and (Path(pre.output_dir) / "results.json").exists()
    assert {i for i in rerun if rerun[i]["started_at"] != records[i]["started_at"]} <= {pre.id, dependent.id}

    # The report: RESULTS.md with every claim and the TF-IDF peer, and the three plots.
    out = tmp_path / "RESULTS.md"
    report = subprocess.run([sys.executable, "-m", "experiments.report", "--grid", "tiny", "--results_dir",
                             str(results), "--output", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stderr
    text = out.read_text()
    for heading in ("## Claim 1", "## Claim 2", "## Claim 3", "## Claim 4", "TF-IDF + logistic regression"):
        assert heading in text
    assert text.count("**Verdict: ") == 4
    for png in ("gain_vs_size.png", "gain_vs_overlap.png", "accuracy_vs_latency.png"):
        assert (folder / "plots" / png).stat().st_size > 1000
    # The same report as a section of another document (RESULTS.md holds the claims grid's): one level deeper.
    lines, verdicts = report_lines("tiny", results, depth=2)
    assert lines[0].startswith("## Results") and "### Claim 4: " + text.split("## Claim 4: ")[1].splitlines()[0] in lines
    assert len(verdicts) == 4


def test_a_cell_dies_with_the_runner(tmp_path):
    """SIGKILL of the runner (no handler can run) still ends its cells: the kernel kills them (PR_SET_PDEATHSIG)."""
    code = ("import os, time; from experiments.run import start_cell; "
            "cell = start_cell(['-c', 'import time; time.sleep(120)'], dict(os.environ), None); "
            "print(cell.pid, flush=True); time.sleep(120)")
    runner = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    cell_pid = int(runner.stdout.readline())
    assert _alive(cell_pid)
    runner.kill()
    runner.wait()
    deadline = time.monotonic() + 10
    while _alive(cell_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(cell_pid):
        os.kill(cell_pid, signal.SIGKILL)
        raise AssertionError(f"cell {cell_pid} outlived its runner")


def _alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped by its new parent, counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_tiny_grid_keeps_its_results_out_of_the_repository(tmp_path):
    """The tiny grid is a smoke test of the runner: by default its cell files go under runs/ (git-ignored)."""
    listing = subprocess.run([sys.executable, "-m", "experiments.run", "--grid", "tiny", "--list", "--workdir",
                              str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0 and "results in runs/results/tiny" in listing.stdout
    listing = subprocess.run([sys.executable, "-m", "experiments.run", "--grid", "recipe", "--list", "--workdir",
                              str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "results in results/recipe" in listing.stdout


def test_head_locality_reads_the_mass_at_each_offset():
    """A head attending to its left neighbour puts all its mass at offset -1; a uniform one 1/T everywhere."""
    import torch

    from experiments.attention_locality import head_locality

    seq_len = 24
    left = torch.zeros(seq_len, seq_len)
    left[torch.arange(1, seq_len), torch.arange(seq_len - 1)] = 1.0
    probs = torch.stack([left, torch.full((seq_len, seq_len), 1 / seq_len)])[None].expand(3, 2, seq_len, seq_len)
    (neighbour, uniform), = head_locality([probs])
    assert neighbour == {-2: 0.0, -1: 1.0, 0: 0.0, 1: 0.0, 2: 0.0}
    assert all(abs(m - 1 / seq_len) < 1e-7 for m in uniform.values())


def test_claim3_is_not_testable_where_overlap_does_not_vary(tmp_path):
    """A grid whose token overlap spans less than MIN_OVERLAP_SPREAD cannot test the claim, whatever the gains;
    one whose overlap varies gets a verdict by the correlation rule. (A stand-in for Results with just what claim3
    reads: building real records for a claims grid takes a grid run.)"""
    from types import SimpleNamespace

    from experiments.report import MIN_OVERLAP_SPREAD, claim3

    def results(shares):
        sizes, tasks = (10, 20, 40), ("ag_news", "dbpedia_14", "fewrel")
        overlap = {(n, t): {"token_share": shares[i][j], "type_share": 0.5, "min_count": 1}
                   for i, n in enumerate(sizes) for j, t in enumerate(tasks)}
        gains = lambda model, n, task: [0.01 * (sizes.index(n) + 1) * (tasks.index(task) + 1) + 0.001 * k for k in range(3)]
        return SimpleNamespace(grid=SimpleNamespace(deep_sizes=sizes, deep=SimpleNamespace(name="deep"), name="g"),
                               tasks=tasks, overlap=overlap, overlap10={}, gains=gains,
                               tfidf_accuracies=lambda task: {0: 0.9})

    flat = [[0.998, 0.999, 1.0]] * 3
    lines, verdict = claim3(results(flat), tmp_path)
    assert verdict == "not testable with this design" and "99.8% to 100.0%" in lines[-1]
    varied = [[0.5 + 0.1 * j + 0.02 * i for j in range(3)] for i in range(3)]
    assert max(map(max, varied)) - min(map(min, varied)) >= MIN_OVERLAP_SPREAD
    assert claim3(results(varied), tmp_path)[1] == "reproduced"
