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
from pathlib import Path

import pyarrow.compute as pc
from transformers import DataCollatorForLanguageModeling, set_seed

from modeling_tlm import TLMForMaskedLM
from modeling_tlm.data import DataError, build_mlm_datasets, load_pretraining_texts, special_token_ids, unigram_cross_entropy
from modeling_tlm.data.common import load_hub_dataset
from modeling_tlm.data.corpus import WIKIPEDIA_HUB_CONFIG, WIKIPEDIA_HUB_ID
from modeling_tlm.training import (
    MLM_DEFAULTS,
    MLMDataArguments,
    ModelArguments,
    TLMTrainer,
    TLMTrainingArguments,
    arguments_dict,
    compute_mlm_metrics,
    mlm_logits_to_predictions,
    parse_args,
    render_model_card,
    resume_checkpoint,
    run_fingerprint,
)
from modeling_tlm.training import checks
from modeling_tlm.training.build import build_config, build_tokenizer
from modeling_tlm.training.card import masked_command, training_rows
from modeling_tlm.training.run import (
    callbacks,
    evaluate,
    limit_validation,
    run_cli,
    save_and_push,
    setup_logging,
    train,
    write_results,
)

def load_texts(source: str, data_args):
    """Documents (column `text`) from 'wikipedia' (the folder in --data_dir, else the Hub), a Hub id, or a path."""
    from_hub = source == data_args.dataset_name and not (source == "wikipedia" and data_args.data_dir)
    if not from_hub:
        texts = load_pretraining_texts(source, data_dir=data_args.data_dir, text_column=data_args.text_column_name,
                                       num_proc=data_args.preprocessing_num_workers)
        if len(texts) == 0:
            raise DataError(f"{source}: the corpus holds no documents (every text is empty)")
        return texts
    hub_id, config = (WIKIPEDIA_HUB_ID, WIKIPEDIA_HUB_CONFIG) if source == "wikipedia" else (source, None)
    texts = load_hub_dataset(hub_id, data_args.dataset_config_name or config, split="train")
    column = data_args.text_column_name
    if column not in texts.column_names:
        raise DataError(f"--dataset_name {source}: no text column {column!r}; its columns are {texts.column_names} "
                        "(pass --text_column_name)")
    texts = texts.select_columns([column])
    return texts if column == "text" else texts.rename_column(column, "text")


def load_datasets(data_args, tokenizer, seed: int):
    """Train and validation sequences: a held-out slice of the corpus, or --validation_file."""
    kwargs = dict(max_length=data_args.max_seq_length, sequence_mode=data_args.sequence_mode, seed=seed,
                  num_proc=data_args.preprocessing_num_workers)
    texts = load_texts(data_args.train_file or data_args.dataset_name, data_args)
    if data_args.validation_file is None:
        return build_mlm_datasets(texts, tokenizer, pre_train_size=data_args.pre_train_size,
                                  eval_fraction=data_args.validation_split_percentage / 100, **kwargs)
    held_out = dict(eval_fraction=0.0, min_eval_sequences=0)
    dataset = build_mlm_datasets(texts, tokenizer, pre_train_size=data_args.pre_train_size, **held_out, **kwargs)
    validation = load_texts(data_args.validation_file, data_args)
    dataset["validation"] = build_mlm_datasets(validation, tokenizer, **held_out, **kwargs)["train"]
    return dataset


def count_tokens(dataset) -> int:
    mask = dataset.select_columns(["attention_mask"]).with_format("arrow")[:]["attention_mask"]  # honours select()
    return int(pc.sum(pc.list_flatten(mask)).as_py() or 0)


def unigram_reference(dataset, tokenizer) -> float:
    """The held-out loss of a model that knows token frequencies and no context: the held-out MLM loss must go below
    it for pre-training to have learned anything a classifier can use."""
    return unigram_cross_entropy(dataset["train"], dataset["validation"], len(tokenizer),
                                 special_ids=special_token_ids(tokenizer))


def build_model(model_args, config) -> TLMForMaskedLM:
    if not model_args.model_name_or_path:
        return TLMForMaskedLM(config)  # random init, seeded by set_seed
    model, info = TLMForMaskedLM.from_pretrained(model_args.model_name_or_path, output_loading_info=True)
    checks.check_missing_head(info, "lm_head.", model_args.model_name_or_path)
    return model


def prepare(argv: list[str]):
    """Parse and check the arguments, load tokenizer and config, build and check the data, find the checkpoint to
    resume from. Everything that can be wrong with the input fails here, before training starts."""
    model_args, data_args, training_args = parse_args(
        (ModelArguments, MLMDataArguments, TLMTrainingArguments), MLM_DEFAULTS, argv
    )
    setup_logging(training_args)
    checks.check_model_arguments(model_args, classification=False)
    checks.check_mlm_data_arguments(data_args)
    checks.check_training_arguments(training_args)
    tokenizer = build_tokenizer(model_args, data_args)
    config = build_config(model_args, tokenizer)
    if model_args.model_name_or_path:
        checks.check_mlm_checkpoint(config, model_args.model_name_or_path)
    checks.check_sequence_length(data_args, config)
    checks.check_hub(training_args)
    with training_args.main_process_first(desc="building the MLM sequences"):  # rank 0 fills the datasets cache
        dataset = limit_validation(load_datasets(data_args, tokenizer, data_args.data_sampling_seed),
                                   data_args.max_eval_samples)
    batch = checks.global_batch_size(training_args)
    checks.check_dataset_size(dataset, "train", batch, f"one batch of {batch} sequences")
    checks.check_dataset_size(dataset, "validation", 1, "evaluation needs at least one sequence")
    with training_args.main_process_first(desc="checking the output folder"):
        checkpoint = resume_checkpoint(training_args, run_fingerprint("train_mlm", model_args, data_args, training_args))
    return model_args, data_args, training_args, tokenizer, config, dataset, checkpoint


def build_trainer(model_args, data_args, training_args, tokenizer, config, dataset, reference: float) -> TLMTrainer:
    set_seed(training_args.seed)
    collator = DataCollatorForLanguageModeling(  # masks anew for every batch: dynamic masking, new each epoch
        tokenizer, mlm_probability=data_args.mlm_probability, mask_replace_prob=data_args.mask_replace_prob,
        random_replace_prob=data_args.random_replace_prob,
    )
    return TLMTrainer(
        model=build_model(model_args, config),
        args=training_args,
        data_collator=collator,
        train_dataset=dataset["train"],
        eval_dataset=dataset["validation"],
        processing_class=tokenizer,
        compute_metrics=compute_mlm_metrics,
        preprocess_logits_for_metrics=mlm_logits_to_predictions,  # sparse (N, V) logits -> (B, T) predictions
        callbacks=callbacks(training_args, reference_loss=reference),
    )


def report(trainer, argv, model_args, data_args, dataset, train_metrics, eval_metrics, started) -> dict:
    """results.json and the model card."""
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
    write_results(trainer, results)
    trainer.model_card_text = render_model_card(
        model=trainer.model, title=training_args.hub_model_id or Path(training_args.output_dir).name,
        summary="Pre-trained with masked language modelling.", data=data,
        training=training_rows(trainer, train_metrics), command=results["command"], arguments=arguments,
        metrics={k: v for k, v in eval_metrics.items()
                 if k in ("eval_loss", "eval_unigram_cross_entropy", "eval_accuracy", "eval_perplexity")},
        repo_id=training_args.hub_model_id, base_model=model_args.model_name_or_path,
        datasets=["wikimedia/wikipedia"] if data_args.dataset_name == "wikipedia" else [],
    )
    return results


def main(argv: list[str] | None = None) -> dict:
    started = time.time()
    argv = sys.argv[1:] if argv is None else argv
    model_args, data_args, training_args, tokenizer, config, dataset, checkpoint = prepare(argv)
    reference = unigram_reference(dataset, tokenizer)
    trainer = build_trainer(model_args, data_args, training_args, tokenizer, config, dataset, reference)
    train_metrics = train(trainer, checkpoint)
    eval_metrics = evaluate(trainer)
    eval_metrics["eval_unigram_cross_entropy"] = round(reference, 4)  # the no-context reference, beside eval_loss
    results = report(trainer, argv, model_args, data_args, dataset, train_metrics, eval_metrics, started)
    save_and_push(trainer)  # model, tokenizer, code files and card; pushed with --push_to_hub
    return results


if __name__ == "__main__":
    run_cli(main)
