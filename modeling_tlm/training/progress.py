"""progress.json: where a run is, for programs that watch it (the experiment runner), rewritten at every log step."""

import json
from pathlib import Path

from transformers import TrainerCallback

from .files import write_json

PROGRESS_NAME = "progress.json"


class ProgressFileCallback(TrainerCallback):
    """Writes {"step", "max_steps", "fraction"} to <output_dir>/progress.json (main process, atomically); `fraction`
    is the share of the run done: of the time budget with --max_train_minutes (max_steps is then null), else of the
    steps."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero:
            return
        scheduler = kwargs.get("lr_scheduler")
        clock = getattr(scheduler, "clock", None)  # a budgeted run's schedule keeps its clock
        fraction = clock.fraction if clock is not None else state.global_step / max(state.max_steps, 1)
        write_json(Path(args.output_dir, PROGRESS_NAME), {"step": state.global_step,
                                                          "max_steps": None if clock else state.max_steps,
                                                          "fraction": round(min(fraction, 1.0), 4)})


def read_progress(output_dir) -> dict | None:
    """The run's last progress.json, or None where it has not written one (yet)."""
    try:
        return json.loads(Path(output_dir, PROGRESS_NAME).read_text())
    except (OSError, ValueError):
        return None
