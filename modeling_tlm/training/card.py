"""The model card (README.md in the output folder, rendered by the Hub), and a Trainer that writes it.

`Trainer.push_to_hub` regenerates README.md with its own generic card; `TLMTrainer.create_model_card` writes ours
instead, so the card on the Hub is the one described here. TLMTrainer also keys the schedule to a time budget
(`budget.py`) and stops a run whose loss is no longer finite.
"""

import json
import re
from pathlib import Path

import torch
from transformers import Trainer

from .budget import create_budget_schedule

PIPELINE_TAGS = {"TLMForMaskedLM": "fill-mask", "TLMForSequenceClassification": "text-classification"}
PAPER = "[Tiny language models](https://arxiv.org/abs/2507.14871)"


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


class TLMTrainer(Trainer):
    """`Trainer` whose `create_model_card` (also called by `push_to_hub`) writes `model_card_text` when it is set."""

    model_card_text: str | None = None

    def training_step(self, model, inputs, num_items_in_batch=None):
        """A non-finite loss stops the run before the optimizer applies it, so no checkpoint with broken weights is
        ever written (the Trainer would otherwise log it filtered, as 0, and go on)."""
        loss = super().training_step(model, inputs, num_items_in_batch)
        if not torch.isfinite(loss).all():
            raise TrainingDiverged(
                f"the training loss is {loss.item()} at step {self.state.global_step + 1}: training diverged (try a "
                f"lower --learning_rate than {self.args.learning_rate:g}); the checkpoints already saved in "
                f"{self.args.output_dir} are kept"
            )
        return loss

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        """With --max_train_minutes the schedule runs on the budget spent (`budget.BudgetSchedule`), not on steps."""
        if self.lr_scheduler is None and self.args.max_train_minutes:
            self.lr_scheduler = create_budget_schedule(self.args, optimizer or self.optimizer)
            self._created_lr_scheduler = True
        return super().create_scheduler(num_training_steps, optimizer)

    def create_model_card(self, *args, **kwargs) -> None:
        if self.model_card_text is None:
            return super().create_model_card(*args, **kwargs)
        if self.is_world_process_zero():
            Path(self.args.output_dir, "README.md").write_text(self.model_card_text, encoding="utf-8")


def masked_command(argv: list[str]) -> str:
    """The command line with the value of every *token flag hidden."""
    out, hide_next = [], False
    for arg in argv:
        if hide_next:
            out.append("<hidden>")
            hide_next = False
        elif re.match(r"--\w*token=", arg):
            out.append(arg.split("=", 1)[0] + "=<hidden>")
        else:
            out.append(arg)
            hide_next = bool(re.fullmatch(r"--\w*token", arg))
    return " ".join(out)


def _value(option) -> str:
    return str(getattr(option, "value", option))  # TrainingArguments turns some options into enums


def _table(rows: dict) -> str:
    lines = ["| | |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in rows.items()]
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def architecture_rows(model) -> dict:
    c = model.config
    conv = (f"{c.num_conv_layers} x Conv2d {' / '.join('x'.join(map(str, k)) for k in c.conv_kernel_sizes)}, "
            f"{c.conv_channels} channels" if c.num_conv_layers else "none")
    embeddings = model.get_input_embeddings().weight.numel()
    return {
        "class": type(model).__name__,
        "transformer layers": c.num_hidden_layers,
        "hidden size": c.hidden_size,
        "attention heads": c.num_attention_heads,
        "feed-forward size": c.intermediate_size,
        "conv front end": conv,
        "vocabulary": c.vocab_size,
        "max sequence length": c.max_position_embeddings,
        "parameters": model.num_parameters(),
        "of which word embeddings": embeddings,
        **({"labels": ", ".join(c.id2label[i] for i in sorted(c.id2label))}
           if type(model).__name__ == "TLMForSequenceClassification" else {}),
    }


def training_rows(trainer, train_metrics: dict) -> dict:
    """The optimisation settings and what the run did, for the card."""
    a = trainer.args
    precision = "bf16 mixed" if a.bf16 else "fp16 mixed" if a.fp16 else "fp32"
    return {
        "optimizer": f"{_value(a.optim)}, learning rate {a.learning_rate:g}, weight decay {a.weight_decay:g}",
        "schedule": f"{_value(a.lr_scheduler_type)}, {a.warmup_steps:g} warmup steps",
        "batch": f"{a.per_device_train_batch_size} per device x {a.world_size} process(es) x "
                 f"{a.gradient_accumulation_steps} accumulation = {a.per_device_train_batch_size * a.world_size * a.gradient_accumulation_steps}",
        "steps": trainer.state.global_step,
        "epochs": round(trainer.state.epoch or 0.0, 3),
        "precision": precision,
        "seed": a.seed,
        "training time (s)": train_metrics.get("train_runtime"),
    }


def render_model_card(
    *, model, title: str, summary: str, data: dict, training: dict, command: str, arguments: dict, metrics: dict,
    repo_id: str | None = None, base_model: str | None = None, datasets: list[str] = (),
) -> str:
    """Markdown with YAML front matter. `data`, `metrics`: name -> value tables; `arguments`: the full arguments."""
    cls = type(model).__name__
    auto = "AutoModelForSequenceClassification" if cls == "TLMForSequenceClassification" else "AutoModelForMaskedLM"
    where = repo_id or "path/to/this/folder"
    front = ["---", "library_name: transformers", f"pipeline_tag: {PIPELINE_TAGS.get(cls, 'feature-extraction')}",
             "tags:", "- tlm", "- modeling_tlm", "- tiny-language-model"]
    if datasets:
        front += ["datasets:"] + [f"- {d}" for d in datasets]
    if base_model and not Path(base_model).exists():  # only Hub ids: a local path means nothing to readers
        front += [f"base_model: {base_model}"]
    front.append("---")
    sections = [
        "\n".join(front),
        f"# {title}",
        f"{summary} A tiny BERT-style language model (TLM) from the paper {PAPER}, trained with "
        "`modeling_tlm` and the Hugging Face `Trainer`.",
        "## Architecture",
        _table(architecture_rows(model)),
        "## Data",
        _table(data),
        "## Training",
        _table(training),
        f"Command:\n\n```bash\n{command}\n```",
        "All arguments (tokens hidden):\n\n<details>\n<summary>arguments</summary>\n\n```json\n"
        + json.dumps(arguments, indent=2, sort_keys=True, default=str) + "\n```\n\n</details>",
        "## Evaluation",
        _table(metrics) if metrics else "No evaluation was run.",
        "## How to load",
        "Where `modeling_tlm` is installed (`pip install modeling-tlm`):\n\n```python\nimport modeling_tlm  "
        f"# registers the \"tlm\" model type with the Auto classes\nfrom transformers import {auto}, AutoTokenizer\n\n"
        f"model = {auto}.from_pretrained(\"{where}\")\ntokenizer = AutoTokenizer.from_pretrained(\"{where}\")\n```",
        "Without the package, the model code saved in this repository is used:\n\n```python\n"
        f"from transformers import {auto}, AutoTokenizer\n\n"
        f"model = {auto}.from_pretrained(\"{where}\", trust_remote_code=True)\n"
        f"tokenizer = AutoTokenizer.from_pretrained(\"{where}\", trust_remote_code=True)\n```",
    ]
    return "\n\n".join(sections) + "\n"
