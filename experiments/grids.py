"""Named experiment grids, as data: which models are pre-trained on how much text, and fine-tuned on what.

A grid expands into cells (`Grid.cells`). Each cell is one command: a pre-training run (`train_mlm.py`), a
fine-tuning run of a checkpoint or of its from-scratch twin on one task with one seed (`train_cls.py`), or one of the
analyses beside them (TF-IDF peer, token overlap, committee accuracy, latency). The runner (`experiments/run.py`)
runs them in dependency order and records each one's arguments and results in `results/<grid>/<cell id>.json`.

    grids:  tiny   (CI: a few steps of very small models on a slice of the data)
            cpu    (this repository's 2-core CPU, about an hour; too short to learn context: results/cpu/REPORT.md)
            claims (the same claims with models pre-trained by the cpu-budget recipe with ALiBi, about 2 hours)
            recipe (the recipe's ablations and learning curve: experiments/recipe_grid.py, RESULTS.md)
            recipe-headline (its 60-minute model again, AG News at 1000 per label with 10 seeds and a rate search)
            tapt   (task-adaptive pre-training against TF-IDF: experiments/tapt_grid.py, a section of RESULTS.md)
            tapt-runs (two more independent pre-training runs of tapt's AG News models: the run as the unit)
            paper (the paper's own setting, for a GPU)
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from typing import NamedTuple

from .cells import NO_DROPOUT, TOKENIZER, Cell, Model, Task
from .recipe_grid import RECIPE, RECIPE_FT_DROPOUT, RECIPE_HEADLINE
from .tapt_grid import TAPT, TAPT_RUNS

class _Where(NamedTuple):
    """Where a grid's cells read and write: the data folder, the grid's work folder, the tokenizer, the flags every
    training command gets."""

    data_dir: str
    out: str
    tokenizer: str
    common: list[str]


@dataclass
class Grid:
    name: str
    description: str
    deep: Model  # the deep model (the paper's BERT-6)
    members: tuple[Model, ...]  # the shallow committee members (the paper's BERT-1 variants)
    deep_sizes: tuple[int, ...]  # pre-training sizes (sequences) of the deep model: the size claim
    member_size: int  # pre-training size of every member
    tasks: tuple[Task, ...]
    seeds: tuple[int, ...]  # fine-tuning seeds; each draws its own labelled sample (load_task(seed=...))
    pretrain_epochs: float
    pretrain_lr: float
    pretrain_seed: int = 42  # also picks the pre-training subset, so sizes nest (20k in 40k in 90k)
    sequence_mode: str = "article_head"
    max_seq_length: int = 128
    batch_size: int = 32  # fine-tuning
    pretrain_batch_size: int = 32
    train_file: str | None = None  # pre-training text file under data_dir instead of all of Wikipedia
    hub_corpus: bool = False  # pre-train on the Hub's wikimedia/wikipedia (the local copy has 6.5k articles)
    pretrain_extra: tuple[str, ...] = ()  # more train_mlm.py flags
    finetune_extra: tuple[str, ...] = ()  # more train_cls.py flags
    scratch_members: bool = True  # also fine-tune the members from scratch (the deep model always has its twin)
    min_committee: int = 2  # committees: every subset of the members with at least this many
    latency_repeats: int = 200  # batch-1 forward passes per model for the p50 latency
    notes: str = ""  # what differs from the paper, for RESULTS.md
    # Pre-training by a named recipe (train_mlm.py --recipe) for a wall-clock budget instead of epochs: the deep
    # model gets `pretrain_minutes` at every size (fixed compute, so size is not confounded with it), each member
    # `pretrain_minutes / len(members)` (a committee then costs what the deep model costs). The recipe's tokenizer
    # is every cell's tokenizer.
    recipe: str | None = None
    pretrain_minutes: float | None = None

    # ------------------------------------------------------------------------------------------------------------
    def pretrain_id(self, model: Model, size: int) -> str:
        return f"pt-{model.name}-{_k(size)}"

    def finetune_id(self, model: Model, size: int | None, task: str, seed: int) -> str:
        return f"ft-{model.name}-{_k(size) if size else 'scratch'}-{task}-s{seed}"

    def pretrained_models(self) -> list[tuple[Model, int]]:
        """(model, pre-training size) of every pre-training cell, deep sizes first (the smallest is quickest)."""
        return [(self.deep, n) for n in self.deep_sizes] + [(m, self.member_size) for m in self.members]

    def committees(self) -> list[tuple[Model, ...]]:
        return [c for k in range(self.min_committee, len(self.members) + 1)
                for c in itertools.combinations(self.members, k)]

    def cells(self, data_dir: str, workdir: str) -> list[Cell]:
        """Every command of the grid, in an order that respects dependencies (pre-training first)."""
        tokenizer = self.tokenizer(data_dir)
        where = _Where(data_dir, os.path.join(workdir, self.name), tokenizer,
                       ["--data_dir", data_dir, "--tokenizer_name", tokenizer, "--max_seq_length",
                        str(self.max_seq_length), "--report_to", "none"])
        cells = self.pretrain_cells(where)
        for task, seed in itertools.product(self.tasks, self.seeds):
            cells += self.task_cells(where, task, seed)
        return cells + self.overlap_cells(where) + [self.unigram_cell(where)] + self.latency_cells(where)

    def pretrain_cells(self, where: _Where) -> list[Cell]:
        """The deep model at each size, every member at member_size."""
        corpus = (["--train_file", os.path.join(where.data_dir, self.train_file)] if self.train_file
                  else ["--dataset_name", "wikipedia"])
        common = _without_data_dir(where.common) if self.hub_corpus else where.common
        cells = []
        for model, size in self.pretrained_models():
            cid = self.pretrain_id(model, size)
            argv = ["train_mlm.py", *model.args(), *common, *corpus, "--pre_train_size", str(size),
                    "--sequence_mode", self.sequence_mode,
                    "--seed", str(self.pretrain_seed if model.seed is None else model.seed),
                    # the same draw of sequences as the overlap and unigram cells (their --seed)
                    "--data_sampling_seed", str(self.pretrain_seed),
                    "--per_device_train_batch_size", str(self.pretrain_batch_size),
                    *self.pretrain_schedule(model), "--output_dir", os.path.join(where.out, cid), *self.pretrain_extra]
            cells.append(Cell(cid, "pretrain", argv, os.path.join(where.out, cid),
                              meta=dict(model=model.name, role=_role(self, model), pre_train_size=size),
                              exclusive=self.recipe is not None))  # a timed run has the machine to itself
        return cells

    def task_cells(self, where: _Where, task: Task, seed: int) -> list[Cell]:
        """On one task with one seed: every checkpoint and its from-scratch twin fine-tuned, the TF-IDF peer on
        exactly the same labelled samples, and the soft committees of the members."""
        out = where.out
        twins = [self.deep] + (list(self.members) if self.scratch_members else [])
        cells = []
        for model, size in self.pretrained_models() + [(m, None) for m in twins]:
            cid = self.finetune_id(model, size, task.name, seed)
            start = (["--model_name_or_path", os.path.join(out, self.pretrain_id(model, size))] if size
                     else [*model.args(), "--from_scratch"])
            argv = ["train_cls.py", *start, *where.common, *task.data_args(), "--seed", str(seed),
                    # each seed draws its own labelled sample, the one the TF-IDF and committee cells load
                    "--data_sampling_seed", str(seed),
                    "--per_device_train_batch_size", str(self.batch_size),
                    "--num_train_epochs", str(task.epochs), "--learning_rate", str(task.learning_rate),
                    "--output_dir", os.path.join(out, cid), *self.finetune_extra]
            cells.append(Cell(cid, "finetune", argv, os.path.join(out, cid),
                              deps=[self.pretrain_id(model, size)] if size else [],
                              meta=dict(model=model.name, role=_role(self, model), pre_train_size=size,
                                        task=task.name, seed=seed)))
        # The practitioner's first try, on exactly the same labelled samples (same load_task arguments).
        cid = f"tfidf-{task.name}-s{seed}"
        argv = ["-m", "experiments.tfidf", "--data_dir", where.data_dir, *task.data_args(), "--seed", str(seed),
                "--output_dir", os.path.join(out, cid)]
        cells.append(Cell(cid, "tfidf", argv, os.path.join(out, cid), meta=dict(task=task.name, seed=seed)))
        if self.committees():  # soft committees of the fine-tuned, independently pre-trained members
            members = [self.finetune_id(m, self.member_size, task.name, seed) for m in self.members]
            deep = self.finetune_id(self.deep, max(self.deep_sizes), task.name, seed)
            cid = f"committee-{task.name}-s{seed}"
            argv = ["-m", "experiments.committee", "--members", *[os.path.join(out, m) for m in members],
                    "--references", os.path.join(out, deep),
                    "--min_size", str(self.min_committee), "--data_dir", where.data_dir, *task.data_args(),
                    "--seed", str(seed), "--max_seq_length", str(self.max_seq_length),
                    "--output_dir", os.path.join(out, cid)]
            cells.append(Cell(cid, "committee", argv, os.path.join(out, cid), deps=[*members, deep],
                              meta=dict(task=task.name, seed=seed, members=[m.name for m in self.members])))
        return cells

    def _corpus_source(self, where: _Where) -> tuple[list[str], list[str]]:
        """(--data_dir, --source) flags of the analyses that read the pre-training corpus themselves."""
        data = [] if self.hub_corpus else ["--data_dir", where.data_dir]
        return data, ["--source", os.path.join(where.data_dir, self.train_file)] if self.train_file else []

    def overlap_cells(self, where: _Where) -> list[Cell]:
        """Token overlap between each pre-training set of the deep model and each task. With the Hub's corpus the
        tasks come from the Hub too (the overlap command reads both from one place), so FewRel (local only) is left
        out there."""
        data, source = self._corpus_source(where)
        tasks = [t.name for t in self.tasks if not (self.hub_corpus and t.name == "fewrel")]
        cells = []
        for size in self.deep_sizes:
            cid = f"overlap-{_k(size)}"
            argv = ["-m", "modeling_tlm.data", "overlap", *data, "--tokenizer_name", where.tokenizer,
                    *source, "--pre_train_size", str(size), "--sequence_mode", self.sequence_mode,
                    "--max_length", str(self.max_seq_length), "--seed", str(self.pretrain_seed),
                    "--task_name", *tasks, "--min_count", "1", "10",
                    "--json", os.path.join(where.out, cid, "results.json")]
            cells.append(Cell(cid, "overlap", argv, os.path.join(where.out, cid), meta=dict(pre_train_size=size)))
        return cells

    def unigram_cell(self, where: _Where) -> Cell:
        """The no-context reference for the MLM losses: unigram cross-entropy on the same held-out sequences."""
        data, source = self._corpus_source(where)
        sizes = sorted(set(self.deep_sizes) | {self.member_size})
        argv = ["-m", "experiments.unigram", *data, *source, "--tokenizer_name", where.tokenizer,
                "--sequence_mode", self.sequence_mode, "--max_length", str(self.max_seq_length),
                "--pre_train_size", *map(str, sizes), "--seed", str(self.pretrain_seed),
                "--output_dir", os.path.join(where.out, "unigram")]
        return Cell("unigram", "unigram", argv, os.path.join(where.out, "unigram"), meta=dict(sizes=sizes))

    def latency_cells(self, where: _Where) -> list[Cell]:
        """Latency at batch 1 of the deep model, each member and each committee (first task, first seed), alone."""
        if not self.committees():
            return []
        task, seed, size = self.tasks[0].name, self.seeds[0], max(self.deep_sizes)
        deep = self.finetune_id(self.deep, size, task, seed)
        members = [self.finetune_id(m, self.member_size, task, seed) for m in self.members]
        argv = ["-m", "experiments.latency", "--deep", os.path.join(where.out, deep),
                "--members", *[os.path.join(where.out, m) for m in members], "--min_size", str(self.min_committee),
                "--data_dir", where.data_dir, *self.tasks[0].data_args(), "--seed", str(seed),
                "--max_seq_length", str(self.max_seq_length), "--repeats", str(self.latency_repeats),
                "--output_dir", os.path.join(where.out, "latency")]
        return [Cell("latency", "latency", argv, os.path.join(where.out, "latency"), deps=[deep, *members],
                     meta=dict(task=task, seed=seed), exclusive=True)]

    def tokenizer(self, data_dir: str) -> str:
        if self.recipe:
            from modeling_tlm.training.arguments import recipe_values

            return recipe_values(self.recipe)["tokenizer_name"]
        return os.path.join(data_dir, TOKENIZER)

    def pretrain_schedule(self, model: Model) -> list[str]:
        """Epochs at a fixed learning rate, or the recipe for a budget (a member gets its share of it)."""
        if not self.recipe:
            return ["--num_train_epochs", str(self.pretrain_epochs), "--learning_rate", str(self.pretrain_lr)]
        minutes = self.pretrain_minutes if model is self.deep else self.pretrain_minutes / len(self.members)
        return ["--recipe", self.recipe, "--max_train_minutes", f"{minutes:g}"]


def _without_data_dir(argv: list[str]) -> list[str]:
    i = argv.index("--data_dir")
    return argv[:i] + argv[i + 2:]


def _k(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def _role(grid: Grid, model: Model) -> str:
    return "deep" if model is grid.deep else "member"


# ----------------------------------------------------------------------------------------------------------------
# The grids
# ----------------------------------------------------------------------------------------------------------------
# Each grid spells out every setting, even where two grids agree (their task lists look alike): a grid is the record
# of what its committed cells ran, and a constant shared between two would let a change for one rewrite the other.

_H128 = "hidden_size=128,num_attention_heads=2"  # head size 64 as in the paper, 1/6 of its width

CPU = Grid(
    name="cpu",
    description="small-width versions of the paper's BERT-6 and BERT-1 variants, sized for a shared 2-core CPU",
    deep=Model("deep", "bert-6", _H128, "BERT-6 (6 layers, hidden 128)"),
    members=(
        Model("b1", "bert-1", _H128, "BERT-1, no conv (hidden 128)"),
        Model("b1-conv2", "bert-1-conv2-k3-d64", f"{_H128},conv_channels=8", "BERT-1, conv2 k3 d8 (hidden 128)"),
        Model("b1-conv3", "bert-1-conv3-k3-d32", f"{_H128},conv_channels=4", "BERT-1, conv3 k3 d4 (hidden 128)"),
    ),
    deep_sizes=(1000, 2000, 4000),
    member_size=4000,
    tasks=(
        Task("ag_news", 100, 200, 6, 3e-4),
        Task("dbpedia_14", 30, 50, 6, 3e-4),
        Task("fewrel", 40, 70, 4, 3e-4),
    ),
    seeds=(0, 1, 2),
    pretrain_epochs=2,
    pretrain_lr=1e-3,
    max_seq_length=64,
    batch_size=8,  # ~300 updates per fine-tuning run: these small models need updates more than big batches
    pretrain_batch_size=32,
    pretrain_extra=("--warmup_steps", "0.06", "--save_strategy", "epoch", "--save_total_limit", "1",
                    "--logging_steps", "25"),
    finetune_extra=("--warmup_steps", "0.1", "--logging_steps", "25"),
    scratch_members=False,
    latency_repeats=200,
    notes=(
        "What was scaled down, and why: the whole grid was sized to finish in about an hour on a 2-core CPU shared "
        "with other work. So the "
        "models are 1/6 of the paper's width (hidden 128, 2 heads of 64; conv channels 8 and 4 instead of 64 and "
        "32), sequences are 64 tokens instead of 128 (article heads and fine-tuning inputs alike), pre-training sees "
        "1k/2k/4k article heads for 2 epochs (the paper: 20k/40k/90k for 50 epochs, about 500x more sequence-epochs), "
        "fine-tuning uses 100/30/40 training examples per label for AG News/DBpedia/FewRel (the paper: 1000/100/630) "
        "for 4-6 epochs (about 300 updates of batch 8) at a learning rate of 3e-4 (the paper: 50 epochs at 5e-5), "
        "and FewRel has the 16 relations of val_wiki.json (the paper: 64 of train_wiki.json). The fine-tuning "
        "schedule was first lr 1e-3 with batch 16: the first three cells' validation accuracy stayed at chance "
        "for most of their 150 updates, so they were discarded and the schedule changed after a short check on a "
        "validation slice drawn from AG News's training pool (at 3e-4 and batch 8 the deep model learned); no "
        "setting was chosen on test results. The members are not fine-tuned from scratch (their "
        "twins would add 27 cells); the from-scratch comparison is made on the deep model at every size. Tokenizer: "
        "bert-base-uncased, the paper's, so that token overlap means what it means in the paper; its 30,522-row "
        "embedding table is most of these models' parameters and a good part of their cost (a smaller WordPiece "
        "vocabulary trained with `modeling_tlm.data.train_wordpiece_tokenizer` would be cheaper but would change "
        "the overlap measure)."
    ),
)

PAPER = Grid(
    name="paper",
    description="the paper's setting: BERT-6 and the BERT-1 presets, 20k/40k/90k Wikipedia article heads, 50 epochs",
    deep=Model("bert-6", "bert-6", label="BERT-6"),
    members=(
        Model("bert-1-h24", "bert-1-h24", label="BERT-1, 24 heads (hidden 1536)"),
        Model("bert-1-conv2-k3-d64", "bert-1-conv2-k3-d64", label="BERT-1, conv2 k3 d64"),
        Model("bert-1-conv2-k3-d64-h8", "bert-1-conv2-k3-d64-h8", label="BERT-1, conv2 k3 d64, 8 heads"),
        Model("bert-1-conv3-k3-d32", "bert-1-conv3-k3-d32", label="BERT-1, conv3 k3 d32"),
        Model("bert-1-conv2-k16x3-d64", "bert-1-conv2-k16x3-d64", label="BERT-1, conv2 k16x3 d64"),
    ),
    deep_sizes=(20_000, 40_000, 90_000),
    member_size=40_000,
    tasks=(
        Task("ag_news", 1000, 1000, 50, 5e-5),
        Task("dbpedia_14", 100, 100, 50, 5e-5),
        Task("fewrel", 630, 70, 50, 5e-5),
    ),
    seeds=(0, 1, 2),
    pretrain_epochs=50,
    pretrain_lr=5e-5,
    hub_corpus=True,
    pretrain_extra=("--bf16", "--save_strategy", "epoch", "--save_total_limit", "1", "--logging_steps", "200"),
    finetune_extra=("--bf16", "--save_total_limit", "1"),
    latency_repeats=300,
)

# The claims again, with models that have learned language: every model pre-trained by the cpu-budget recipe (no
# dropout, 8k WordPiece vocabulary, packed sequences, schedule keyed to the budget) with ALiBi, which halves the time
# the recipe needs to leave its plateau (RESULTS.md, recipe variants). The deep model is the recipe's own (2 layers):
# at these budgets a 6-layer model of the same width would get about 2.5x fewer steps (a FLOP estimate) and stay on
# the plateau. Claim 2 varies the number of distinct sequences (nested subsets) at one fixed budget; claim 4 gives
# each of the three one-layer members a third of the deep model's budget, so the committee and the deep model cost
# the same pre-training compute. The members differ only by their pre-training seed (initialisation and batch
# order): independently pre-trained, as in the paper's committee.
_ALIBI = f"{NO_DROPOUT},alibi=true"


_CLAIMS_MEMBERS = tuple(Model(f"b1{tag}", "tiny", f"{_ALIBI},num_hidden_layers=1",
                              f"BERT-1 of the recipe's width, ALiBi, pre-training seed {seed}", seed=seed)
                        for tag, seed in (("a", 1), ("b", 2), ("c", 3)))


def _claims_grid(name: str, minutes: float) -> Grid:
    """The claims grid with `minutes` of pre-training per deep model, shared out evenly among the members."""
    member_minutes = f"{minutes / len(_CLAIMS_MEMBERS):.3g}"
    return Grid(
        name=name,
        description=f"the paper's claims with the cpu-budget recipe and ALiBi: the recipe's 2-layer model "
                    f"pre-trained for {minutes:g} minutes on 10k / 40k / 160k packed Wikipedia sequences, and "
                    f"{len(_CLAIMS_MEMBERS)} one-layer members of {member_minutes} minutes each",
        deep=Model("deep", "tiny", _ALIBI, "the recipe's model with ALiBi (2 layers, hidden 128)"),
        members=_CLAIMS_MEMBERS,
        deep_sizes=(10_000, 40_000, 160_000),
        member_size=160_000,
        tasks=(  # the recipe grid's few-shot settings, where the recipe's gains were measured
            Task("ag_news", 32, 950, 30, 5e-4),
            Task("dbpedia_14", 32, 100, 30, 5e-4),
            Task("fewrel", 32, 70, 30, 5e-4),
        ),
        seeds=(0, 1, 2),
        pretrain_epochs=0,  # unused: the recipe's budget is the schedule
        pretrain_lr=0,
        recipe="cpu-budget",
        pretrain_minutes=minutes,
        sequence_mode="packed",
        max_seq_length=128,
        batch_size=16,
        pretrain_batch_size=64,
        finetune_extra=("--warmup_steps", "0.1", "--logging_steps", "25", "--save_total_limit", "1"),
        scratch_members=False,  # three from-scratch members would be one model three times (same config, same seed)
        latency_repeats=200,
        notes=(
            f"The paper's claims with models that use context: the cpu-budget recipe with ALiBi (RESULTS.md, recipe "
            f"variants), {minutes:g} minutes for the deep model at every pre-training size and {member_minutes} "
            "minutes for each member, the whole machine for each run. Fine-tuning uses the recipe grid's few-shot settings "
            "(32 examples per label, 30 epochs at 5e-4, batch 16, the epoch chosen on the validation slice), fixed "
            "before any run of this grid, for pre-trained models and their from-scratch twins alike (the twins have "
            "the same config)."
        ),
    )


# 30 minutes per deep model: where the recipe with ALiBi has left its plateau (4.49 nats, RESULTS.md variants).
CLAIMS = _claims_grid("claims", 30)
# The first run, kept with its results: at 20 minutes the deep models were still near the plateau (5.5-5.9 nats).
CLAIMS_20M = _claims_grid("claims-20m", 20)

# CI: two tiny members and a tiny deep model, a few optimisation steps on one Wikipedia file and one small task.
_TINY = "hidden_size=64,num_attention_heads=1,intermediate_size=128,max_position_embeddings=64"
TINY = Grid(
    name="tiny",
    description="a smoke test of the whole pipeline: very small models, a few steps",
    deep=Model("deep", "tiny", _TINY, "tiny deep (2 layers, hidden 64)"),
    members=(
        Model("b1", "bert-1", _TINY, "tiny BERT-1 (hidden 64)"),
        Model("b1-conv", "bert-1-conv2-k3-d64", f"{_TINY},conv_channels=2", "tiny BERT-1 conv2 d2"),
    ),
    deep_sizes=(64,),
    member_size=64,
    tasks=(Task("dbpedia_14", 4, 3, 1, 1e-3),),
    seeds=(0,),
    pretrain_epochs=1,
    pretrain_lr=1e-3,
    sequence_mode="packed",  # one Wikipedia file has too few articles for article heads
    max_seq_length=64,
    batch_size=16,
    pretrain_batch_size=16,
    train_file="wikipedia/enwiki-2015-AA/wiki_00",
    pretrain_extra=("--save_strategy", "no", "--validation_split_percentage", "1", "--logging_steps", "1"),
    finetune_extra=("--logging_steps", "1"),
    scratch_members=False,
    latency_repeats=5,
)

GRIDS = {g.name: g for g in (TINY, CPU, CLAIMS, CLAIMS_20M, PAPER, RECIPE, RECIPE_HEADLINE, RECIPE_FT_DROPOUT, TAPT,
                                  TAPT_RUNS)}


def get_grid(name: str) -> Grid:
    if name not in GRIDS:
        raise ValueError(f"unknown grid {name!r}; choose one of: {', '.join(GRIDS)}")
    return GRIDS[name]
