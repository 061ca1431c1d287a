"""The `tapt` grid: does continuing pre-training on the task's own unlabelled text close the gap to TF-IDF?

TF-IDF + logistic regression beats the recipe's models at every paper-size setting. Wikipedia is not news: a model
pre-trained on it meets AG News' vocabulary and style only in fine-tuning. Task-adaptive pre-training (TAPT,
Gururangan et al. 2020, "Don't stop pretraining") continues the MLM on the task's training texts, labels unused, and
gained 1-5 points on RoBERTa. It reads more text than TF-IDF does (every training row of the task, not just the
labelled sample), so it is reported beside the Wikipedia-only model, never in its place.

One base model (the recipe with ALiBi, which halved the plateau), then from it:
- `tapt-<task>`: the MLM continued on that task's training texts (`train_mlm.py --dataset_name <task>`);
- `wiki`: the same number of steps continued on Wikipedia: the control that says whether TAPT's gain is the task's
  text or just more steps;
each fine-tuned at the paper's size with 5 seeds beside the base model, its from-scratch twin and TF-IDF on the same
labelled samples. Pre-training runs on a schedule by steps (`--max_steps` with a budget that never binds), so its
result does not depend on what else the machine does; its speed is recorded beside it.

    python -m experiments.run --grid tapt --data_dir ../shared/data --workdir runs/experiments --jobs 2
    python -m experiments.report --grid tapt                           # -> its section of RESULTS.md
"""

from __future__ import annotations

import itertools
import os
from collections import defaultdict
from dataclasses import dataclass

from .cells import NO_DROPOUT, Cell
from .recipe_grid import (_SETTINGS, FINETUNE_DROPOUT, FINETUNE_EXTRA, FinetuneSetting, _with_config_overrides,
                          finetune_argv)

NEVER_BINDS = "10000"  # --max_train_minutes that lets --max_steps set the schedule's length


@dataclass
class TaptGrid:
    name: str
    description: str
    recipe: str  # train_mlm.py --recipe NAME: the base model's recipe, and the continued runs' training settings
    architecture: str  # --config_overrides that make the recipe's model the base model's (its twin's too)
    base_steps: int
    continued_steps: int  # of every continued run, task text or Wikipedia alike
    continued_learning_rate: float  # peak of the continued runs' fresh warm-up and decay
    settings: tuple[FinetuneSetting, ...]
    seeds: tuple[int, ...]

    def models(self) -> list[str]:
        """The fine-tuned models, in table order: base, its continuations, the from-scratch twin."""
        return ["base", "wiki", *(f"tapt-{s.name}" for s in self.settings), "scratch"]

    def cells(self, data_dir: str, workdir: str) -> list[Cell]:
        from modeling_tlm.training.arguments import recipe_model_flags

        out = os.path.join(workdir, self.name)
        common = ["--data_dir", data_dir, "--report_to", "none"]
        by_steps = ["--max_train_minutes", NEVER_BINDS, "--max_steps"]
        cells = [Cell("pt-base", "pretrain", ["train_mlm.py", "--recipe", self.recipe, *common, *by_steps,
                                              str(self.base_steps), "--config_overrides", f"{NO_DROPOUT},{self.architecture}",
                                              "--output_dir", os.path.join(out, "pt-base")],
                      os.path.join(out, "pt-base"), meta=dict(model="base", corpus="wikipedia"), exclusive=True)]
        for corpus in ("wikipedia", *dict.fromkeys(s.name for s in self.settings)):
            model = "wiki" if corpus == "wikipedia" else f"tapt-{corpus}"
            argv = ["train_mlm.py", "--recipe", self.recipe, "--model_name_or_path", os.path.join(out, "pt-base"),
                    *common, "--dataset_name", corpus, *by_steps, str(self.continued_steps),
                    "--learning_rate", f"{self.continued_learning_rate:g}",
                    "--output_dir", os.path.join(out, f"pt-{model}")]
            cells.append(Cell(f"pt-{model}", "pretrain", argv, os.path.join(out, f"pt-{model}"), deps=["pt-base"],
                              meta=dict(model=model, corpus=corpus), exclusive=True))

        # Fine-tuning with dropout 0.1 on both sides (it helped the pre-trained side at AG News 1000/label); the
        # twin's dropout joins its architecture overrides, since the last --config_overrides given wins.
        twin = _with_config_overrides(recipe_model_flags(self.recipe), f"{self.architecture},{FINETUNE_DROPOUT}")
        for setting, seed in itertools.product(self.settings, self.seeds):
            for model in [m for m in self.models() if not m.startswith("tapt-") or m == f"tapt-{setting.name}"]:
                pt = f"pt-{model}"
                start = (["--from_scratch", *twin] if model == "scratch" else
                         ["--model_name_or_path", os.path.join(out, pt), "--config_overrides", FINETUNE_DROPOUT])
                cid = f"ft-{model}-{setting.key}-s{seed}"
                argv = finetune_argv(start, common, setting, seed, FINETUNE_EXTRA, os.path.join(out, cid))
                cells.append(Cell(cid, "finetune", argv, os.path.join(out, cid),
                                  deps=[] if model == "scratch" else [pt],
                                  meta=dict(model=model, task=setting.name, setting=setting.key, seed=seed)))
            cid = f"tfidf-{setting.key}-s{seed}"
            cells.append(Cell(cid, "tfidf", ["-m", "experiments.tfidf", "--data_dir", data_dir, *setting.data_args(),
                                             "--seed", str(seed), "--output_dir", os.path.join(out, cid)],
                              os.path.join(out, cid), meta=dict(task=setting.name, setting=setting.key, seed=seed)))
        return cells


def accuracies(records: list[dict]) -> dict[tuple[str, str], dict[int, float]]:
    """(model or 'tfidf', setting key) -> {seed: test accuracy} over the finished cells."""
    out: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    for r in records:
        m = r["meta"]
        if r["kind"] in ("finetune", "tfidf"):
            out[(m.get("model", "tfidf"), m["setting"])][m["seed"]] = r["results"]["test_accuracy"]
    return out


# The seeds, settings and steps below were fixed before any of the grid's runs; what counts as a win: a paired gain
# whose 95% t-interval over the 5 seeds lies above zero.
TAPT = TaptGrid(
    name="tapt",
    description="task-adaptive pre-training: the recipe's ALiBi model continued on the task's unlabelled training "
                "texts, against the same steps on Wikipedia, from scratch and TF-IDF",
    recipe="cpu-budget",
    architecture="alibi=true",
    base_steps=8000,  # the ALiBi variant left the plateau by step 3,000 and reached 2.5 nats below unigram at 6,249
    continued_steps=1500,  # about 10 passes over AG News' 1.3M training tokens (8k vocabulary)
    continued_learning_rate=5e-4,  # half the recipe's peak: the base model has converged, a full re-warm forgets
    settings=(_SETTINGS[0], _SETTINGS[1]),  # AG News 1000, DBpedia-14 100 per label; FewRel's test is in its file
    seeds=(0, 1, 2, 3, 4),
)
