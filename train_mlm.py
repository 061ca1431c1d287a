#!/usr/bin/env python
"""Pre-train a tiny language model (TLM) with masked language modelling, on transformers' Trainer.

    python train_mlm.py --model_preset tiny --dataset_name wikipedia --data_dir ../shared/data \
        --output_dir runs/tiny-mlm --max_steps 2000 --learning_rate 1e-3 --warmup_steps 100
    accelerate launch --multi_gpu --num_processes 2 train_mlm.py ...   # two ranks (gloo on CPU, NCCL on GPUs)
    python train_mlm.py args.yaml                                       # the same arguments from a file

Rerunning a command resumes from the last checkpoint in --output_dir. `python train_mlm.py --help` lists every
argument (model, data, and all of TrainingArguments).
"""

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import set_seed

from modeling_tlm import TLMForMaskedLM
from modeling_tlm.data import special_token_ids, unigram_cross_entropy
from modeling_tlm.data.corpus import WIKIPEDIA_HUB_ID
from modeling_tlm.training import (
    MLM_DEFAULTS,
    MLMDataArguments,
    ModelArguments,
    TLMTrainer,
    TLMTrainingArguments,
    arguments_dict,
    compute_mlm_metrics,
    mlm_logits_to_predictions,
    render_model_card,
    run_fingerprint,
)
from modeling_tlm.training import checks
from modeling_tlm.training.card import masked_command, training_rows
from modeling_tlm.training.collators import MLMCollator
from modeling_tlm.training.data import count_tokens, load_mlm_datasets
from modeling_tlm.training.resume import RunStart, preflight_output_dir
from modeling_tlm.training import commands


@dataclass
class Prepared:
    """What `prepare` parsed, checked and loaded: everything training needs, before it starts."""

    model_args: ModelArguments
    data_args: MLMDataArguments
    training_args: TLMTrainingArguments
    tokenizer: Any
    config: Any
    dataset: Any  # DatasetDict: train, validation
    start: RunStart  # a fresh run, or the checkpoint to resume from


def unigram_reference(dataset, tokenizer) -> float:
    """The held-out loss of a model that knows token frequencies and no context: the held-out MLM loss must go below
    it for pre-training to have learned anything a classifier can use."""
    return unigram_cross_entropy(dataset["train"], dataset["validation"], len(tokenizer),
                                 special_ids=special_token_ids(tokenizer))


def build_model(model_args, config) -> TLMForMaskedLM:
    if not model_args.model_name_or_path:
        model = TLMForMaskedLM(config)  # random init, seeded by set_seed
    else:
        model, info = TLMForMaskedLM.from_pretrained(model_args.model_name_or_path, output_loading_info=True)
        checks.check_missing_head(info, "lm_head.", model_args.model_name_or_path)
    # Last layer, head and vocabulary projection only at the masked positions: the same loss and gradients, far
    # fewer FLOPs. Logits are then (masked tokens, V); mlm_logits_to_predictions reads them for the metrics.
    model.sparse_prediction = True
    return model


def prepare(argv: list[str]) -> Prepared:
    """Parse and check the arguments, load tokenizer and config, build and check the data, find the checkpoint to
    resume from. Everything that can be wrong with the input fails here, before training starts."""
    model_args, data_args, training_args, tokenizer, config = commands.parse_and_build(
        (ModelArguments, MLMDataArguments, TLMTrainingArguments), MLM_DEFAULTS, argv, classification=False)
    if model_args.model_name_or_path:
        checks.check_mlm_checkpoint(config, model_args.model_name_or_path)
    checks.check_sequence_length(data_args, config)
    checks.check_hub(training_args)
    with training_args.main_process_first(desc="checking the output folder"):  # before any data are read
        start = preflight_output_dir(training_args, run_fingerprint("train_mlm", model_args, data_args, training_args))
    with training_args.main_process_first(desc="building the MLM sequences"):  # rank 0 fills the datasets cache
        dataset = commands.limit_validation(load_mlm_datasets(data_args, tokenizer, data_args.data_sampling_seed),
                                            data_args.max_eval_samples)
    batch = checks.global_batch_size(training_args)
    checks.check_dataset_size(dataset, "train", batch, f"one batch of {batch} sequences")
    checks.check_dataset_size(dataset, "validation", 1, "evaluation needs at least one sequence")
    return Prepared(model_args, data_args, training_args, tokenizer, config, dataset, start)


def build_trainer(run: Prepared, reference: float) -> TLMTrainer:
    set_seed(run.training_args.seed)
    data_args = run.data_args
    collator = MLMCollator(  # masks anew for every batch: dynamic masking, new each epoch; no mask without padding
        run.tokenizer, mlm_probability=data_args.mlm_probability, mask_replace_prob=data_args.mask_replace_prob,
        random_replace_prob=data_args.random_replace_prob,
    )
    return TLMTrainer(
        model=build_model(run.model_args, run.config),
        args=run.training_args,
        data_collator=collator,
        train_dataset=run.dataset["train"],
        eval_dataset=run.dataset["validation"],
        processing_class=run.tokenizer,
        compute_metrics=compute_mlm_metrics,
        preprocess_logits_for_metrics=mlm_logits_to_predictions,  # sparse (N, V) logits -> (B, T) predictions
        callbacks=commands.callbacks(run.training_args, reference_loss=reference),
    )


def report(trainer, argv, run: Prepared, train_metrics: dict, eval_metrics: dict, started: float) -> dict:
    """results.json and the model card."""
    model_args, data_args, dataset = run.model_args, run.data_args, run.dataset
    data = {
        "source": data_args.train_file or f"{data_args.dataset_name} ({data_args.data_dir or 'Hub'})",
        "sequence mode": data_args.sequence_mode,
        "sequence length": data_args.max_seq_length,
        "training sequences": len(dataset["train"]),
        "training tokens (without padding)": count_tokens(dataset["train"]),
        "validation sequences": len(dataset["validation"]),
        "masking": f"{data_args.mlm_probability:.0%} of tokens; of those {data_args.mask_replace_prob:.0%} [MASK], "
                   f"{data_args.random_replace_prob:.0%} random, the rest kept (dynamic: new masks every batch)",
    }
    training_args = trainer.args
    arguments = arguments_dict(model_args, data_args, training_args)
    results = {
        "script": "train_mlm.py", "command": masked_command(["python", "train_mlm.py", *argv]),
        "arguments": arguments, "seed": training_args.seed, "data": data, "train": train_metrics,
        "eval": eval_metrics, "runtime_seconds": round(time.time() - started, 1),
    }
    hub_id = WIKIPEDIA_HUB_ID if data_args.dataset_name == "wikipedia" else None
    trainer.model_card_text = render_model_card(
        model=trainer.model, title=training_args.hub_model_id or Path(training_args.output_dir).name,
        summary="Pre-trained with masked language modelling.", data=data,
        training=training_rows(trainer, train_metrics), command=results["command"], arguments=arguments,
        metrics={k: v for k, v in eval_metrics.items()
                 if k in ("eval_loss", "eval_unigram_cross_entropy", "eval_accuracy", "eval_perplexity")},
        repo_id=training_args.hub_model_id, base_model=model_args.model_name_or_path,
        datasets=[hub_id] if hub_id else [], eval_dataset={"type": hub_id or data["source"],
                                                           "name": f"{data['source']}, held-out sequences"},
    )
    return results


def main(argv: list[str] | None = None) -> dict:
    started = time.time()
    argv = sys.argv[1:] if argv is None else argv
    run = prepare(argv)
    reference = unigram_reference(run.dataset, run.tokenizer)
    trainer = build_trainer(run, reference)
    train_metrics = commands.train(trainer, run.start)
    eval_metrics = commands.evaluate(trainer)
    eval_metrics["eval_unigram_cross_entropy"] = round(reference, 4)  # the no-context reference, beside eval_loss
    results = report(trainer, argv, run, train_metrics, eval_metrics, started)
    commands.save_and_push(trainer, results)  # model, tokenizer, code files and card; pushed with --push_to_hub
    return results


if __name__ == "__main__":
    commands.run_cli(main)
