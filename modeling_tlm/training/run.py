"""The steps train_mlm.py and train_cls.py share: logging, training with resume, results, card and push."""

import json
import logging
import sys
from pathlib import Path

import datasets
import transformers

from ..data import DataError
from .budget import BudgetCallback
from .card import TrainingDiverged
from .checks import ArgumentError
from .resume import OutputDirError

logger = logging.getLogger(__name__)
USER_ERRORS = (ArgumentError, DataError, OutputDirError, TrainingDiverged)  # a message, not a traceback


def setup_logging(training_args) -> None:
    """Info on the main process, warnings only on the others (as transformers' example scripts)."""
    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
        datefmt="%m/%d/%Y %H:%M:%S",
        handlers=[logging.StreamHandler(sys.stdout)],
    )
    level = logging.INFO if training_args.should_log else training_args.get_process_log_level()
    logging.getLogger("modeling_tlm").setLevel(level)
    logging.getLogger("__main__").setLevel(level)
    datasets.utils.logging.set_verbosity(min(level, logging.WARNING))
    transformers.utils.logging.set_verbosity(min(level, logging.WARNING))
    transformers.utils.logging.enable_explicit_format()


def run_cli(main) -> None:
    """Run `main()`; bad input exits with status 2 and its message (no traceback)."""
    try:
        main()
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


def callbacks(training_args, reference_loss: float | None = None) -> list:
    """The budget's callback for --max_train_minutes; `reference_loss` is shown beside the held-out loss."""
    return [BudgetCallback(reference_loss)] if training_args.max_train_minutes else []


def train(trainer, checkpoint: str | None) -> dict:
    """`trainer.train`, resuming from `checkpoint` if given; logs and saves the train metrics."""
    result = trainer.train(resume_from_checkpoint=checkpoint)
    metrics = dict(result.metrics)
    metrics["train_samples"] = len(trainer.train_dataset)
    metrics["global_step"] = trainer.state.global_step
    if checkpoint:
        metrics["resumed_from_step"] = json.loads(Path(checkpoint, "trainer_state.json").read_text())["global_step"]
    trainer.log_metrics("train", metrics)
    trainer.save_metrics("train", metrics)
    return metrics


def evaluate(trainer, dataset=None, prefix: str = "eval") -> dict:
    """`trainer.evaluate` on `dataset` (default: the eval set), metrics logged and saved as `{prefix}_results.json`."""
    metrics = trainer.evaluate(dataset, metric_key_prefix=prefix)
    trainer.log_metrics(prefix, metrics)
    trainer.save_metrics(prefix, metrics)
    return metrics


def limit_validation(dataset, max_eval_samples: int | None):
    """--max_eval_samples: keep the first N validation rows (the test split is never cut)."""
    if max_eval_samples is not None and "validation" in dataset:
        dataset["validation"] = dataset["validation"].select(range(min(max_eval_samples, len(dataset["validation"]))))
    return dataset


def write_results(trainer, results: dict) -> None:
    if trainer.is_world_process_zero():
        path = Path(trainer.args.output_dir, "results.json")
        path.write_text(json.dumps(results, indent=2, sort_keys=True, default=str) + "\n")
        logger.info("Results written to %s", path)


def save_and_push(trainer) -> None:
    """Save model, tokenizer (and the code files, for trust_remote_code) and the card in `trainer.model_card_text`;
    push them all with --push_to_hub."""
    if trainer.args.push_to_hub:
        trainer.push_to_hub(commit_message="End of training")  # saves the model and writes the card first
    else:
        trainer.save_model()
        trainer.create_model_card()
