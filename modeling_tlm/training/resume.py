"""Resuming: which checkpoint a rerun continues from, and whether an output folder belongs to this run at all.

Each run writes `tlm_run.json` into its output folder: the arguments that define what is trained (model, data,
optimisation; not logging, saving or Hub settings). Rerunning the same command finds the same fingerprint and resumes
from the last complete checkpoint; a folder whose checkpoints came from different arguments is an error instead of
being silently overwritten or, worse, resumed with the wrong settings. A folder that holds `results.json` holds a
finished run (it is written last), and rerunning its command leaves it as it is.

The folder is locked for the lifetime of the process that trains into it (`flock` on `.tlm.lock`, which holds the
PID): a second writer is refused with the holder named, and a lock left by a killed process is free again, because
the kernel drops a dead process's locks.
"""

import fcntl
import json
import logging
import os
from pathlib import Path
from typing import NamedTuple

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint

from .arguments import arguments_dict
from .files import write_json

logger = logging.getLogger(__name__)

FINGERPRINT_NAME = "tlm_run.json"
RESULTS_NAME = "results.json"  # written after the final model: a folder that has it holds a finished run
LOCK_NAME = ".tlm.lock"
TRAINER_STATE_NAME = "trainer_state.json"  # the Trainer writes it last, so a checkpoint that has it is complete
# TrainingArguments that change the trained weights. Everything else (output, logging, saving, evaluation schedule,
# Hub, dataloader workers) may change between a run and its resumption.
RUN_DEFINING_TRAINING_ARGS = (
    "seed", "data_seed", "learning_rate", "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon", "optim",
    "optim_args", "max_grad_norm", "lr_scheduler_type", "lr_scheduler_kwargs", "warmup_steps", "num_train_epochs",
    "max_steps", "per_device_train_batch_size", "gradient_accumulation_steps", "bf16", "fp16",
    "label_smoothing_factor", "metric_for_best_model",
    "max_train_minutes",  # a budget is the length of the learning-rate schedule
)
NOT_RUN_DEFINING = ("preprocessing_num_workers", "max_eval_samples")


class OutputDirError(ValueError):
    """The output folder cannot be used: another run's checkpoints, another process writing, or not writable."""


class RunComplete(Exception):
    """The output folder already holds this run, finished: there is nothing to do."""


def run_fingerprint(script: str, model_args, data_args, training_args) -> dict:
    """The arguments that define a run, as JSON-normal values (what a reload of tlm_run.json gives back)."""
    values = arguments_dict(model_args, data_args)
    training = arguments_dict(training_args)
    values.update({k: training[k] for k in RUN_DEFINING_TRAINING_ARGS if k in training})
    for key in NOT_RUN_DEFINING:
        values.pop(key, None)
    return json.loads(json.dumps({"script": script, "arguments": values}, default=str))


def last_complete_checkpoint(output_dir: str | os.PathLike) -> str | None:
    """The newest checkpoint-N folder that holds trainer_state.json (a run killed while saving leaves a partial one)."""
    if not os.path.isdir(output_dir):
        return None
    candidates = sorted(Path(output_dir).glob(f"{PREFIX_CHECKPOINT_DIR}-*"), key=checkpoint_step, reverse=True)
    for path in candidates:
        if path.is_dir() and checkpoint_step(path) >= 0 and (path / TRAINER_STATE_NAME).is_file():
            if str(path) != get_last_checkpoint(output_dir):
                logger.warning("Skipping incomplete checkpoint(s) newer than %s (killed while saving?)", path)
            return str(path)
    return None


def checkpoint_step(path: Path) -> int:
    """N of a checkpoint-N folder (-1 for other names)."""
    suffix = path.name[len(PREFIX_CHECKPOINT_DIR) + 1:]
    return int(suffix) if suffix.isdigit() else -1


def check_output_dir(output_dir: str | os.PathLike, fingerprint: dict) -> str | None:
    """The checkpoint to resume from (None: start afresh). Raises OutputDirError if `output_dir` holds checkpoints
    or a saved model of a run with other arguments (or of unknown origin)."""
    out = Path(output_dir)
    has_run = out.is_dir() and (any(out.glob(f"{PREFIX_CHECKPOINT_DIR}-*")) or (out / "config.json").exists())
    if not has_run:
        return None
    stored_path = out / FINGERPRINT_NAME
    if not stored_path.exists():
        raise OutputDirError(
            f"--output_dir {out} already holds checkpoints or a model, but no {FINGERPRINT_NAME}: they were not "
            "written by this run. Choose another --output_dir (or delete that folder)."
        )
    try:
        stored = json.loads(stored_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise OutputDirError(
            f"{stored_path}: not valid JSON ({e}); the file that says which run this folder holds is damaged. "
            "Restore it, or delete the folder to start afresh."
        ) from None
    differences = _differences(stored, fingerprint)
    if differences:
        raise OutputDirError(
            f"--output_dir {out} holds checkpoints of a different run; its {FINGERPRINT_NAME} differs from this "
            f"command in: {differences}. Rerun the original command to resume it, or choose another --output_dir "
            "(or delete that folder, or pass --resume_from_checkpoint to continue it anyway)."
        )
    if (out / RESULTS_NAME).is_file():
        raise RunComplete(f"--output_dir {out} already holds this run, finished ({out / RESULTS_NAME}); nothing to "
                          "do. Choose another --output_dir (or delete that folder) to train again.")
    return last_complete_checkpoint(out)


def _differences(stored: dict, current: dict) -> str:
    """The arguments whose values differ, as '--name (old -> new)'. Arguments that one side does not know (added
    to the scripts since that run was started) are not compared, so an upgrade does not orphan old runs."""
    if stored.get("script") != current.get("script"):
        return f"script ({stored.get('script')} -> {current.get('script')})"
    old, new = stored.get("arguments", {}), current.get("arguments", {})
    keys = sorted(k for k in set(old) & set(new) if old[k] != new[k])
    return ", ".join(f"--{k} ({old[k]!r} -> {new[k]!r})" for k in keys)


def write_fingerprint(output_dir: str | os.PathLike, fingerprint: dict) -> None:
    write_json(Path(output_dir) / FINGERPRINT_NAME, fingerprint)


_held_locks: dict[str, int] = {}  # output folder -> open file descriptor; the lock lasts as long as the process


def lock_output_dir(output_dir: str | os.PathLike) -> None:
    """Create `output_dir` if needed and lock it for this process; OutputDirError if it is not writable or another
    live process holds the lock (named by its PID)."""
    out = Path(output_dir)
    key = str(out.resolve())
    if key in _held_locks:
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise OutputDirError(f"--output_dir {out}: cannot write there ({e.strerror}); choose a writable folder") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise OutputDirError(
            f"--output_dir {out} is in use: process {holder} is training into it ({out / LOCK_NAME}). Wait for it to "
            "finish (or stop it), or choose another --output_dir."
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _held_locks[key] = fd


def release_output_dirs() -> None:
    """Unlock every output folder this process holds (its end would do the same)."""
    while _held_locks:
        os.close(_held_locks.popitem()[1])


class RunStart(NamedTuple):
    checkpoint: str | None  # what trainer.train(resume_from_checkpoint=...) continues from; None: from the start
    fingerprint: dict  # recorded in the output folder when training starts


def preflight_output_dir(training_args, fingerprint: dict) -> RunStart:
    """The output folder's pre-flight, before any data are read: writable, locked for this process, and free of
    another run; and the checkpoint to resume from.

    An explicit --resume_from_checkpoint wins (the user asked to continue with the new arguments). Otherwise the
    last complete checkpoint of the same run, or None. Raises RunComplete if the folder holds this run, finished.
    The fingerprint is written when training starts (`record_run`), so a run stopped by bad input leaves nothing.
    """
    explicit = training_args.resume_from_checkpoint
    checkpoint = explicit if explicit else check_output_dir(training_args.output_dir, fingerprint)  # reads only
    if training_args.should_save:  # the main process writes, so it holds the lock
        lock_output_dir(training_args.output_dir)
    if checkpoint:
        logger.warning("Resuming from checkpoint %s", checkpoint)
    return RunStart(checkpoint, fingerprint)


def record_run(training_args, start: RunStart) -> None:
    """Write this run's fingerprint into its output folder (main process only), just before training."""
    if training_args.should_save:
        write_fingerprint(training_args.output_dir, start.fingerprint)
