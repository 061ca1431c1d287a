"""The steps train_mlm.py and train_cls.py share: logging, training with resume, results, card and push."""

import json
import logging
import sys
from pathlib import Path

import datasets
import transformers

from ..data import DataError
from . import checks
from .arguments import parse_args
from .budget import BudgetCallback
from .build import build_config, build_tokenizer
from .progress import ProgressFileCallback
from .trainer import SaveFailed, TrainingDiverged
from .errors import ArgumentError
from .files import write_json
from .resume import RESULTS_NAME, TRAINER_STATE_NAME, OutputDirError, RunComplete, RunStart, record_run, release_output_dirs

logger = logging.getLogger(__name__)
USER_ERRORS = (ArgumentError, DataError, OutputDirError, SaveFailed, TrainingDiverged)  # a message, not a traceback


class _DropRoutineSaves(logging.Filter):
    """transformers' info lines that repeat for every file of every load and save (the Trainer's own lines, such as
    'Saving model checkpoint to ...', stay)."""

    ROUTINE = ("Offline mode: forcing local_files_only", "loading configuration file", "Model config ",
               "Configuration saved in", "Model weights saved in", "tokenizer config file saved in",
               "loading weights file", "Will use dtype=")

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.ROUTINE)


def parse_and_build(argument_types: tuple, defaults: dict, argv: list[str] | None, classification: bool) -> tuple:
    """The first steps of both training scripts: the arguments parsed and checked, logging set up, the tokenizer and
    the model config built (each an error naming what is wrong, before any data are read).
    Returns (model_args, data_args, training_args, tokenizer, config)."""
    model_args, data_args, training_args = parse_args(argument_types, defaults, argv)
    setup_logging(training_args)
    checks.check_model_arguments(model_args, classification=classification)
    (checks.check_cls_data_arguments if classification else checks.check_mlm_data_arguments)(data_args)
    checks.check_training_arguments(training_args)
    tokenizer = build_tokenizer(model_args, data_args)
    return model_args, data_args, training_args, tokenizer, build_config(model_args, tokenizer)


def setup_logging(training_args) -> None:
    """Info on the main process, warnings only on the others (as transformers' example scripts), each line once."""
    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
        datefmt="%m/%d/%Y %H:%M:%S",
        handlers=[logging.StreamHandler(sys.stdout)],
    )
    level = logging.INFO if training_args.should_log else training_args.get_process_log_level()
    logging.getLogger("modeling_tlm").setLevel(level)
    logging.getLogger("__main__").setLevel(level)
    datasets.utils.logging.set_verbosity(min(level, logging.WARNING))
    datasets.utils.logging.disable_propagation()  # datasets has its own handler: through the root one too, twice
    transformers.utils.logging.set_verbosity(min(level, logging.WARNING))
    transformers.utils.logging.disable_propagation()  # on by default where CI=true: every line twice, unfiltered
    transformers.utils.logging.enable_explicit_format()
    for handler in logging.getLogger("transformers").handlers:
        if not any(isinstance(f, _DropRoutineSaves) for f in handler.filters):
            handler.addFilter(_DropRoutineSaves())


def run_cli(main) -> None:
    """Run `main()`, the one way every command ends: bad input exits with status 2 and `error: <message>` (no
    traceback); an int that `main` returns is the exit status."""
    status = None
    try:
        status = main()
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except RunComplete as e:
        print(f"done: {e}", file=sys.stderr)
    finally:
        release_output_dirs()
    if isinstance(status, int):
        sys.exit(status)


def callbacks(training_args, reference_loss: float | None = None) -> list:
    """progress.json for watchers, and the budget's callback for --max_train_minutes; `reference_loss` is shown
    beside the held-out loss."""
    budget = [BudgetCallback(reference_loss)] if training_args.max_train_minutes else []
    return [ProgressFileCallback(), *budget]


def train(trainer, start: RunStart) -> dict:
    """`trainer.train`, resuming from `start.checkpoint` if given; logs and saves the train metrics."""
    # Read before training: --save_total_limit may delete the checkpoint once newer ones are saved.
    resumed_from = json.loads(Path(start.checkpoint, TRAINER_STATE_NAME).read_text())["global_step"] \
        if start.checkpoint else None
    record_run(trainer.args, start)
    result = trainer.train(resume_from_checkpoint=start.checkpoint)
    metrics = dict(result.metrics)
    metrics["train_samples"] = len(trainer.train_dataset)
    metrics["global_step"] = trainer.state.global_step
    if resumed_from is not None:
        metrics["resumed_from_step"] = resumed_from
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
        path = write_json(Path(trainer.args.output_dir, RESULTS_NAME), results)
        logger.info("Results written to %s", path)


def save_and_push(trainer, results: dict) -> None:
    """Save model, tokenizer (and the code files, for trust_remote_code), the card in `trainer.model_card_text`, and
    last `results.json`, which marks the run finished; push them all with --push_to_hub."""
    trainer.save_model()
    trainer.create_model_card()
    write_results(trainer, results)
    if trainer.args.push_to_hub:
        trainer.push_to_hub(commit_message="End of training")  # saves the model and the card again, then uploads
    release_output_dirs()
