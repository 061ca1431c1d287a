"""The model card (README.md in the output folder, rendered by the Hub).

`Trainer.push_to_hub` regenerates README.md with its own generic card; `TLMTrainer.create_model_card` (trainer.py)
writes ours instead, so the card on the Hub is the one described here.
"""

import json
import re
from pathlib import Path

from huggingface_hub import EvalResult, ModelCardData

from ..configuration_tlm import MIN_TRANSFORMERS
from .checks import global_batch_size


PIPELINE_TAGS = {"TLMForMaskedLM": "fill-mask", "TLMForSequenceClassification": "text-classification"}
PAPER = "[Tiny language models](https://arxiv.org/abs/2507.14871)"
NOT_MODEL_METRICS = ("eval_unigram_cross_entropy",)  # in the card's table, not its model-index: a property of the data


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
                 f"{a.gradient_accumulation_steps} accumulation = {global_batch_size(a)}",
        "steps": trainer.state.global_step,
        "epochs": round(trainer.state.epoch or 0.0, 3),
        "precision": precision,
        "seed": a.seed,
        "training time (s)": train_metrics.get("train_runtime"),
    }


def card_metadata(*, model, title: str, metrics: dict, eval_dataset: dict | None, base_model: str | None,
                  datasets: list[str]) -> ModelCardData:
    """The card's YAML metadata, as huggingface_hub builds and parses it: license, language, library, pipeline tag,
    datasets, base model, and a model-index with the measured metrics (`test_*` on the test split, `eval_*` on
    validation)."""
    pipeline_tag = PIPELINE_TAGS.get(type(model).__name__, "feature-extraction")
    results = []
    for key, value in metrics.items():
        split, _, name = key.partition("_")
        if eval_dataset and isinstance(value, (int, float)) and split in ("test", "eval") \
                and key not in NOT_MODEL_METRICS:
            results.append(EvalResult(
                task_type=pipeline_tag, dataset_type=eval_dataset["type"], dataset_name=eval_dataset["name"],
                dataset_split="test" if split == "test" else "validation", metric_type=name, metric_value=value,
            ))
    return ModelCardData(
        language="en", license="apache-2.0", library_name="transformers", pipeline_tag=pipeline_tag,
        tags=["tlm", "modeling_tlm", "tiny-language-model"], datasets=list(datasets) or None,
        base_model=base_model if base_model and not Path(base_model).exists() else None,  # Hub ids only
        model_name=title, eval_results=results or None,
    )


def render_model_card(
    *, model, title: str, summary: str, data: dict, training: dict, command: str, arguments: dict, metrics: dict,
    repo_id: str | None = None, base_model: str | None = None, datasets: list[str] = (),
    eval_dataset: dict | None = None,
) -> str:
    """Markdown with YAML front matter. `data`, `metrics`: name -> value tables; `arguments`: the full arguments;
    `eval_dataset`: {"type": Hub id or name, "name": readable name} of the data the metrics were measured on."""
    cls = type(model).__name__
    auto = "AutoModelForSequenceClassification" if cls == "TLMForSequenceClassification" else "AutoModelForMaskedLM"
    where = repo_id or "path/to/this/folder"
    metadata = card_metadata(model=model, title=title, metrics=metrics, eval_dataset=eval_dataset,
                             base_model=base_model, datasets=list(datasets))
    sections = [
        f"---\n{metadata.to_yaml()}\n---",
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
        f"With transformers {MIN_TRANSFORMERS} or newer (`pip install \"transformers>={MIN_TRANSFORMERS}\" torch`) and "
        "nothing else: the model code saved in this repository is used.\n\n```python\n"
        f"from transformers import {auto}, AutoTokenizer\n\n"
        f"model = {auto}.from_pretrained(\"{where}\", trust_remote_code=True)\n"
        f"tokenizer = AutoTokenizer.from_pretrained(\"{where}\")\n```",
        "Where the `modeling_tlm` source is installed (`pip install -e .` in a clone of it), `import modeling_tlm` "
        f"registers the \"tlm\" model type with the Auto classes and `{auto}.from_pretrained(\"{where}\")` needs no "
        "remote code.",
    ]
    return "\n\n".join(sections) + "\n"
