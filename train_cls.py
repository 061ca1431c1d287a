#!/usr/bin/env python
"""Fine-tune a tiny language model (TLM) for text classification, on transformers' Trainer.

    # from a pre-trained checkpoint (its MLM head is dropped, a new classifier is trained)
    python train_cls.py --model_name_or_path runs/tiny-mlm --task_name ag_news --data_dir ../shared/data \
        --output_dir runs/tiny-agnews --num_train_epochs 5
    # the same architecture from random weights: the paper's baseline
    python train_cls.py --from_scratch --model_preset tiny --task_name ag_news --data_dir ../shared/data ...

The model is selected on the validation slice (best accuracy over the evaluations), then evaluated once on the test
set; everything goes to results.json. Rerunning a command resumes from the last checkpoint in --output_dir.
`python train_cls.py --help` lists every argument.
"""

import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import DataCollatorWithPadding, set_seed

from modeling_tlm import TLMForSequenceClassification
from modeling_tlm.training import (
    CLS_DEFAULTS,
    ClassificationDataArguments,
    ClassificationMetrics,
    ClassificationModelArguments,
    TLMTrainer,
    TLMTrainingArguments,
    arguments_dict,
    render_model_card,
    run_fingerprint,
)
from modeling_tlm.training import checks
from modeling_tlm.training.card import masked_command, training_rows
from modeling_tlm.training.data import load_classification_data, samples_per_label
from modeling_tlm.training.resume import RunStart, preflight_output_dir
from modeling_tlm.training import commands

logger = logging.getLogger(__name__)


@dataclass
class Prepared:
    """What `prepare` parsed, checked and loaded: everything training needs, before it starts."""

    model_args: ClassificationModelArguments
    data_args: ClassificationDataArguments
    training_args: TLMTrainingArguments
    tokenizer: Any
    config: Any
    task: Any  # TaskData: labels, their names, where the data came from
    dataset: Any  # DatasetDict: train, validation, test (tokenized)
    start: RunStart  # a fresh run, or the checkpoint to resume from


def build_model(model_args, config, task, tokenizer) -> TLMForSequenceClassification:
    """A classifier over the task's labels: the checkpoint's encoder with a new pooler and classifier, or random."""
    config.num_labels = task.num_labels
    config.id2label, config.label2id = dict(task.id2label), dict(task.label2id)
    if model_args.from_scratch:
        model = TLMForSequenceClassification(config)
    else:
        model = TLMForSequenceClassification.from_pretrained(model_args.model_name_or_path, config=config)
    if len(tokenizer) > model.config.vocab_size:  # entity markers added: new embedding rows
        logger.warning("Resizing the embeddings from %d to %d tokens (added: %s)", model.config.vocab_size,
                       len(tokenizer), ", ".join(task.marker_tokens))
        model.resize_token_embeddings(len(tokenizer))
    return model


def check_checkpoint_labels(config, task, name_or_path: str) -> None:
    """Continuing a fine-tuned classifier only makes sense on the same labels."""
    if "TLMForSequenceClassification" in (config.architectures or []) and config.num_labels != task.num_labels:
        raise checks.ArgumentError(
            f"--model_name_or_path {name_or_path} is a classifier with {config.num_labels} labels but task "
            f"{task.name} has {task.num_labels}; start from a pre-trained (masked-LM) checkpoint instead"
        )


def prepare(argv: list[str]) -> Prepared:
    """Parse and check the arguments, load tokenizer, config and task, find the checkpoint to resume from.
    Everything that can be wrong with the input fails here, before training starts."""
    model_args, data_args, training_args, tokenizer, config = commands.parse_and_build(
        (ClassificationModelArguments, ClassificationDataArguments, TLMTrainingArguments), CLS_DEFAULTS, argv,
        classification=True)
    checks.check_sequence_length(data_args, config)
    checks.check_hub(training_args)
    with training_args.main_process_first(desc="checking the output folder"):  # before any data are read
        start = preflight_output_dir(training_args, run_fingerprint("train_cls", model_args, data_args, training_args))
    with training_args.main_process_first(desc="loading and tokenizing the task"):  # rank 0 fills the cache
        task, dataset = load_classification_data(data_args, tokenizer, data_args.data_sampling_seed)
    dataset = commands.limit_validation(dataset, data_args.max_eval_samples)
    if model_args.model_name_or_path:
        check_checkpoint_labels(config, task, model_args.model_name_or_path)
    checks.check_dataset_size(dataset, "train", task.num_labels, f"at least one example per label, {task.num_labels}")
    selecting = training_args.load_best_model_at_end or training_args.eval_strategy != "no"
    checks.check_dataset_size(dataset, "validation", 1 if selecting else 0, "model selection needs a validation set")
    checks.check_dataset_size(dataset, "test", 1, "the final evaluation needs a test set")
    return Prepared(model_args, data_args, training_args, tokenizer, config, task, dataset, start)


def build_trainer(run: Prepared) -> TLMTrainer:
    set_seed(run.training_args.seed)  # the same classifier initialisation for the pre-trained model and its baseline
    return TLMTrainer(
        model=build_model(run.model_args, run.config, run.task, run.tokenizer),
        args=run.training_args,
        data_collator=DataCollatorWithPadding(run.tokenizer),  # each batch padded to its longest example
        train_dataset=run.dataset["train"],
        eval_dataset=run.dataset["validation"] if len(run.dataset["validation"]) else None,
        processing_class=run.tokenizer,
        compute_metrics=ClassificationMetrics(),
        callbacks=commands.callbacks(run.training_args),
    )


def report(trainer, argv, run: Prepared, train_metrics: dict, validation: dict, test: dict, started: float) -> dict:
    """results.json and the model card."""
    model_args, data_args, task, dataset = run.model_args, run.data_args, run.task, run.dataset
    sizes = {split: len(rows) for split, rows in dataset.items()}
    data = {
        "task": task.name, "source": task.source, "labels": task.num_labels,
        **{f"{split} examples": n for split, n in sizes.items()},
        **{k.replace("_", " "): v or "all" for k, v in samples_per_label(data_args).items()},
        "sequence length": data_args.max_seq_length,
    }
    training_args = trainer.args
    arguments = arguments_dict(model_args, data_args, training_args)
    results = {
        "script": "train_cls.py", "command": masked_command(["python", "train_cls.py", *argv]),
        "arguments": arguments, "seed": training_args.seed, "task": task.name, "data_sizes": sizes,
        "num_labels": task.num_labels, **samples_per_label(data_args), "pretrained": model_args.model_name_or_path,
        "from_scratch": model_args.from_scratch, "best_checkpoint": trainer.state.best_model_checkpoint,
        "train": train_metrics, "validation": validation, "test": test,
        "test_accuracy": test["test_accuracy"], "test_macro_f1": test["test_macro_f1"],
        "runtime_seconds": round(time.time() - started, 1),
    }
    hub_id = f"fancyzhx/{task.name}" if task.name in ("ag_news", "dbpedia_14") else None  # FewRel: no Hub id
    origin = "from random weights (no pre-training: the baseline)" if model_args.from_scratch else \
        f"from the pre-trained checkpoint `{model_args.model_name_or_path}`"
    trainer.model_card_text = render_model_card(
        model=trainer.model, title=training_args.hub_model_id or Path(training_args.output_dir).name,
        summary=f"Fine-tuned for {task.name} classification {origin}.", data=data,
        training=training_rows(trainer, train_metrics), command=results["command"], arguments=arguments,
        metrics={k: v for k, v in {**validation, **test}.items() if k.endswith(("_loss", "_accuracy", "_macro_f1"))},
        repo_id=training_args.hub_model_id, base_model=model_args.model_name_or_path,
        datasets=[hub_id] if hub_id else [], eval_dataset={"type": hub_id or task.name, "name": task.name},
    )
    return results


def main(argv: list[str] | None = None) -> dict:
    started = time.time()
    argv = sys.argv[1:] if argv is None else argv
    run = prepare(argv)
    trainer = build_trainer(run)
    train_metrics = commands.train(trainer, run.start)
    # load_best_model_at_end has put the best model on validation back: evaluate it once on validation and test.
    validation = commands.evaluate(trainer, run.dataset["validation"], "eval") if len(run.dataset["validation"]) else {}
    test = commands.evaluate(trainer, run.dataset["test"], "test")
    results = report(trainer, argv, run, train_metrics, validation, test, started)
    # model, tokenizer (with FewRel's markers), code files and card; pushed with --push_to_hub
    commands.save_and_push(trainer, results)
    return results


if __name__ == "__main__":
    commands.run_cli(main)
