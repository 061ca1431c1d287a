"""Trainer callbacks."""

import logging
import time

import torch
import torch.distributed as dist
from transformers import TrainerCallback

logger = logging.getLogger(__name__)


class TimeLimitCallback(TrainerCallback):
    """Stop training after `minutes` of this invocation, saving a checkpoint that a rerun resumes from.

    Every rank must stop at the same step (or the others wait forever in the next all-reduce), so in distributed
    runs the ranks agree through one tiny all-reduce per step.
    """

    def __init__(self, minutes: float):
        self.seconds = 60.0 * minutes
        self.start = None
        self.stopped_at_step = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        over = time.monotonic() - self.start >= self.seconds
        if dist.is_available() and dist.is_initialized():
            flag = torch.tensor([float(over)], device=args.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            over = bool(flag.item())
        if over:
            logger.warning("Time limit of %.1f min reached at step %d: saving and stopping", self.seconds / 60,
                           state.global_step)
            self.stopped_at_step = state.global_step
            control.should_training_stop = True
            control.should_save = True
        return control
