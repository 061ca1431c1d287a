"""What grids are made of: the models, the tasks with their fine-tuning schedule, and the cells (one command each)
that `experiments/run.py` runs. The grids themselves are in `experiments/grids.py` and `experiments/recipe_grid.py`."""

from __future__ import annotations

from dataclasses import dataclass, field

TOKENIZER = "bert-base-uncased"  # the paper's tokenizer: overlap and vocabulary coverage stay comparable with it


@dataclass(frozen=True)
class Model:
    """One architecture: a preset of `modeling_tlm` with optional `--config_overrides`."""

    name: str  # short id used in cell ids and tables, e.g. "deep", "b1-conv2"
    preset: str
    overrides: str = ""  # e.g. "hidden_size=128,num_attention_heads=2"
    label: str = ""  # what the model is in the paper's terms, for tables
    seed: int | None = None  # its own pre-training seed (init and batch order); None: the grid's

    def args(self) -> list[str]:
        return ["--model_preset", self.preset] + (["--config_overrides", self.overrides] if self.overrides else [])


@dataclass(frozen=True)
class Task:
    """A classification task and its fine-tuning schedule."""

    name: str  # ag_news | dbpedia_14 | fewrel
    train_per_label: int
    test_per_label: int
    epochs: float
    learning_rate: float

    def data_args(self) -> list[str]:
        """The arguments that decide which labelled samples are drawn; the TF-IDF peer gets exactly these."""
        return ["--task_name", self.name, "--samples_per_label_train", str(self.train_per_label),
                "--samples_per_label_test", str(self.test_per_label)]


@dataclass
class Cell:
    """One command of the grid. `output_dir` receives the command's `results.json`."""

    id: str
    kind: str  # pretrain | finetune | tfidf | overlap | unigram | committee | latency
    argv: list[str]
    output_dir: str
    deps: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    exclusive: bool = False  # run alone (timings must not share the CPU with another cell)


NO_DROPOUT = "hidden_dropout_prob=0,attention_probs_dropout_prob=0"  # the recipe's pre-training setting
