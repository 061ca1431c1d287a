"""TLMTrainer: transformers' Trainer with a time-budget schedule, a divergence stop, our model card and the
tokenizer's fingerprint in every checkpoint."""

import contextlib
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from transformers import Trainer
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from ..data.tokenization import vocab_fingerprint
from .budget import create_budget_schedule
from .resume import last_complete_checkpoint


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


class SaveFailed(OSError):
    """A checkpoint or the final model could not be written (a full disk, say)."""


def _is_write_error(error: RuntimeError) -> bool:
    """torch.save reports a failed write (a full disk, say) as a RuntimeError of its zip writer, not an OSError."""
    return any(sign in str(error) for sign in ("inline_container", "iostream error", "PytorchStreamWriter"))


class TLMTrainer(Trainer):
    """`Trainer` that writes our model card, keys the schedule to a time budget, stops a diverged run, and saves the
    tokenizer's vocabulary fingerprint with every checkpoint."""

    model_card_text: str | None = None
    _vocab_fingerprint: str | None = None

    def training_step(self, model, inputs, num_items_in_batch=None):
        """A non-finite loss stops the run before the optimizer applies it, so no checkpoint with broken weights is
        ever written (the Trainer would otherwise log it filtered, as 0, and go on)."""
        loss = super().training_step(model, inputs, num_items_in_batch)
        if not torch.isfinite(loss).all():
            raise TrainingDiverged(
                f"the training loss is {loss.item()} at step {self.state.global_step + 1}: training diverged (try a "
                f"lower --learning_rate than {self.args.learning_rate:g}); the checkpoints already saved in "
                f"{self.args.output_dir} are kept"
            )
        return loss

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        """With --max_train_minutes the schedule runs on the budget spent (`budget.BudgetSchedule`), not on steps."""
        if self.lr_scheduler is None and self.args.max_train_minutes:
            self.lr_scheduler = create_budget_schedule(self.args, optimizer or self.optimizer)
            self._created_lr_scheduler = True
        return super().create_scheduler(num_training_steps, optimizer)

    def _save_checkpoint(self, model, trial):
        """A failed write (a full disk) names the folder and the last complete checkpoint, which is left intact: the
        Trainer deletes old checkpoints only after a new one is complete, and a partial one (no trainer_state.json)
        is never resumed from."""
        folder = Path(self.args.output_dir, f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}")
        with self._naming_failed_writes(folder):
            return super()._save_checkpoint(model, trial)

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False):
        """As the Trainer's; a failed write names the folder (see `_save_checkpoint`)."""
        with self._naming_failed_writes(Path(output_dir or self.args.output_dir)):
            return super().save_model(output_dir, _internal_call)

    @contextlib.contextmanager
    def _naming_failed_writes(self, folder: Path):
        """OSError, SafetensorError and torch.save's RuntimeError from a write -> SaveFailed naming `folder`, the last
        complete checkpoint and the free space (the innermost save names it; outer ones let it through)."""
        try:
            yield
        except SaveFailed:
            raise
        except (OSError, SafetensorError, RuntimeError) as e:
            if isinstance(e, RuntimeError) and not _is_write_error(e):
                raise
            last = last_complete_checkpoint(self.args.output_dir)
            kept = f"the last complete checkpoint, {last}, is intact" if last else "no earlier checkpoint was written"
            free = shutil.disk_usage(self.args.output_dir).free / 2**20
            raise SaveFailed(f"{folder}: could not be written ({e}; {free:.1f} MiB free on that disk); {kept}. Free "
                             "some space (or choose another --output_dir) and rerun the command to resume") from None

    def _save(self, output_dir: str | None = None, state_dict=None):
        """Every save (checkpoints and the final model) records which vocabulary the weights were trained with, so a
        different tokenizer of the same size is refused later (`check_tokenizer_matches_config`)."""
        if self.processing_class is not None and hasattr(self.model.config, "vocab_fingerprint"):
            if self._vocab_fingerprint is None:  # the tokenizer is fixed once the Trainer has it: hash it once
                self._vocab_fingerprint = vocab_fingerprint(self.processing_class)
            self.model.config.vocab_fingerprint = self._vocab_fingerprint
        return super()._save(output_dir, state_dict)

    def create_model_card(self, *args, **kwargs) -> None:
        """Writes `model_card_text` when it is set (also when called by `push_to_hub`)."""
        if self.model_card_text is None:
            return super().create_model_card(*args, **kwargs)
        if self.is_world_process_zero():
            Path(self.args.output_dir, "README.md").write_text(self.model_card_text, encoding="utf-8")
