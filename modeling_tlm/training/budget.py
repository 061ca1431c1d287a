"""A training-time budget that is the schedule, not a cut-off: `--max_train_minutes M`.

The learning rate is a function of the fraction of the budget spent, so a 60-minute run warms up, decays and ends
exactly when its 60 minutes are up, whatever its speed turns out to be (Cramming's "budget" schedules; Geiping &
Goldstein 2022). Any of transformers' step-based shapes (`--lr_scheduler_type linear|cosine|constant_with_warmup|
...`) is replayed on that fraction; `--warmup_steps` is then a fraction of the budget (0.1 = the first 10%).

What counts: the wall time of training steps, data loading included; evaluation and checkpoint saving are not
charged, so periodic evaluation does not shorten training. With `--max_steps` as well, the run ends at whichever
limit comes first, and the schedule follows whichever is further along. In a multi-process run every rank uses rank
0's clock (one broadcast per step), so all ranks see the same learning rate and stop at the same step.

The spent time is part of the scheduler's state, which the Trainer saves in every checkpoint (`scheduler.pt`), so a
killed run resumes at its checkpoint's position in the schedule with the rest of its budget.
"""

import logging
import math
import time

import torch
import torch.distributed as dist
from torch.optim.lr_scheduler import LambdaLR, LRScheduler
from transformers import TrainerCallback, get_scheduler

logger = logging.getLogger(__name__)

# The budget's fraction is replayed on transformers' step-based shapes as a step of this many virtual steps.
VIRTUAL_STEPS = 1_000_000
# A Trainer needs a step count to run; in a budgeted run without --max_steps the budget ends training long before.
UNBOUNDED_STEPS = 10**9


class BudgetClock:
    """Seconds of training spent, counted between `tick`s; `skip` starts a new interval without charging the last."""

    def __init__(self, budget_seconds: float):
        self.budget_seconds = budget_seconds
        self.spent_seconds = 0.0
        self._mark = time.monotonic()

    def skip(self) -> None:
        self._mark = time.monotonic()

    def tick(self) -> None:
        now = time.monotonic()
        self.spent_seconds += now - self._mark
        self._mark = now
        if dist.is_available() and dist.is_initialized():  # every rank follows rank 0's clock
            spent = torch.tensor([self.spent_seconds], dtype=torch.float64)
            if dist.get_backend() == "nccl":
                spent = spent.cuda()
            dist.broadcast(spent, src=0)
            self.spent_seconds = float(spent.item())

    @property
    def fraction(self) -> float:
        return min(1.0, self.spent_seconds / self.budget_seconds)

    @property
    def left_seconds(self) -> float:
        return max(0.0, self.budget_seconds - self.spent_seconds)

    @property
    def spent(self) -> bool:
        return self.spent_seconds >= self.budget_seconds


def schedule_shape(lr_scheduler_type: str, warmup_fraction: float, scheduler_kwargs: dict | None):
    """transformers' schedule `lr_scheduler_type` as a function of progress in [0, 1] -> learning-rate factor."""
    probe = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)  # get_scheduler needs an optimizer
    scheduler = get_scheduler(lr_scheduler_type, optimizer=probe, num_warmup_steps=round(warmup_fraction * VIRTUAL_STEPS),
                              num_training_steps=VIRTUAL_STEPS, scheduler_specific_kwargs=scheduler_kwargs or {})
    if not isinstance(scheduler, LambdaLR):
        raise ValueError(f"--lr_scheduler_type {lr_scheduler_type} is not a function of progress; with "
                         "--max_train_minutes use linear, cosine, constant_with_warmup, polynomial, ...")
    shape = scheduler.lr_lambdas[0]
    return lambda progress: shape(min(VIRTUAL_STEPS, round(progress * VIRTUAL_STEPS)))


class BudgetSchedule(LRScheduler):
    """Learning rate = base rate x shape(progress), progress = the larger of budget spent and max_steps done."""

    def __init__(self, optimizer, shape, budget_seconds: float, max_steps: int | None = None):
        self.clock = BudgetClock(budget_seconds)
        self.shape = shape
        self.max_steps = max_steps if max_steps and max_steps < UNBOUNDED_STEPS else None
        super().__init__(optimizer)

    @property
    def progress(self) -> float:
        steps = self.last_epoch / self.max_steps if self.max_steps else 0.0
        return min(1.0, max(self.clock.fraction, steps))

    def get_lr(self) -> list[float]:
        factor = self.shape(self.progress)
        return [base * factor for base in self.base_lrs]

    def step(self, epoch=None):
        if self.last_epoch >= 0:  # not the constructor's initial call
            self.clock.tick()
        super().step()

    def state_dict(self) -> dict:
        # Plain values only: the Trainer reloads scheduler.pt with torch.load(weights_only=True).
        return {"last_epoch": self.last_epoch, "base_lrs": self.base_lrs, "_last_lr": self._last_lr,
                "spent_seconds": self.clock.spent_seconds, "budget_seconds": self.clock.budget_seconds}

    def load_state_dict(self, state_dict: dict) -> None:
        self.last_epoch = state_dict["last_epoch"]
        self.base_lrs = state_dict["base_lrs"]
        self.clock.spent_seconds = state_dict["spent_seconds"]
        self.clock.skip()  # the time between the checkpoint and this resumption was not training
        self._last_lr = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, self._last_lr):
            group["lr"] = lr


def create_budget_schedule(training_args, optimizer) -> BudgetSchedule:
    """--warmup_steps is a fraction of the budget here (checked to be in [0, 1) with --max_train_minutes)."""
    shape = schedule_shape(str(getattr(training_args.lr_scheduler_type, "value", training_args.lr_scheduler_type)),
                           float(training_args.warmup_steps), training_args.lr_scheduler_kwargs)
    return BudgetSchedule(optimizer, shape, 60.0 * training_args.max_train_minutes, training_args.max_steps)


class BudgetCallback(TrainerCallback):
    """Stops a budgeted run when its budget is spent (saving a checkpoint), keeps evaluation and saving off the
    clock, and logs one progress line per logging step: tokens/s, budget left, the latest held-out loss beside a
    reference (e.g. the unigram cross-entropy an MLM must get below)."""

    def __init__(self, reference_loss: float | None = None, reference_name: str = "unigram"):
        self.reference_loss = reference_loss
        self.reference_name = reference_name
        self.last_eval_loss = None
        self._last = (0.0, 0)  # (spent seconds, tokens seen) at the previous progress line

    @staticmethod
    def _clock(kwargs) -> BudgetClock:
        return kwargs["lr_scheduler"].clock

    def on_train_begin(self, args, state, control, **kwargs):
        clock = self._clock(kwargs)
        clock.skip()  # model loading and data preparation are not training
        self._last = (clock.spent_seconds, state.num_input_tokens_seen or 0)
        logger.info("Budget: %.1f min, %.1f spent; if stopped early, rerunning the same command resumes from the last "
                    "checkpoint with the time it had spent", clock.budget_seconds / 60, clock.spent_seconds / 60)

    def on_step_end(self, args, state, control, **kwargs):
        clock = self._clock(kwargs)
        if clock.spent:
            logger.warning("Budget of %.1f min spent at step %d: saving and stopping (the schedule has ended)",
                           clock.budget_seconds / 60, state.global_step)
            control.should_training_stop = True
            control.should_save = True
        return control

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if metrics and "eval_loss" in metrics:
            self.last_eval_loss = metrics["eval_loss"]
        self._clock(kwargs).skip()

    def on_save(self, args, state, control, **kwargs):
        self._clock(kwargs).skip()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return
        clock = self._clock(kwargs)
        tokens = state.num_input_tokens_seen or 0
        rate = ""
        if clock.spent_seconds > self._last[0] and tokens:
            rate = f" | {(tokens - self._last[1]) / (clock.spent_seconds - self._last[0]):,.0f} tokens/s"
        self._last = (clock.spent_seconds, tokens)
        held_out = "" if self.last_eval_loss is None else f" | held-out loss {self.last_eval_loss:.3f}"
        if held_out and self.reference_loss is not None:
            gap = self.reference_loss - self.last_eval_loss
            held_out += f" ({abs(gap):.3f} {'below' if gap >= 0 else 'above'} {self.reference_name} " \
                        f"{self.reference_loss:.3f})"
        logger.info("step %d | %.0f%% of %.1f min, %.1f min left%s | lr %.2e | loss %.3f%s", state.global_step,
                       100 * clock.fraction, clock.budget_seconds / 60, clock.left_seconds / 60, rate,
                       logs.get("learning_rate", math.nan), logs["loss"], held_out)
