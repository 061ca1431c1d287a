"""The training budget (modeling_tlm/training/budget.py): a schedule keyed to time spent, stopping, and resuming."""

import io
from types import SimpleNamespace

import pytest
import torch
from transformers import TrainerControl

from modeling_tlm.training.budget import BudgetCallback, BudgetSchedule, schedule_shape
from modeling_tlm.training.resume import last_complete_checkpoint
from tests.training_utils import corpus_file, kill_after_checkpoint, mlm_args, read_json, run_script, trainer_state


def schedule(budget_seconds=100.0, max_steps=None, warmup=0.1, shape="linear"):
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1e-3)
    return BudgetSchedule(optimizer, schedule_shape(shape, warmup, None), budget_seconds, max_steps)


def spend(scheduler, seconds: float):
    """One optimizer step that took `seconds` of training time."""
    scheduler.clock._mark -= seconds
    scheduler.optimizer.step()
    scheduler.step()


def test_learning_rate_follows_the_budget_spent_not_the_steps():
    s = schedule()
    assert s.get_last_lr()[0] == 0.0  # warm-up starts at zero
    spend(s, 5.0)  # half the warm-up (10% of 100 s)
    assert s.get_last_lr()[0] == pytest.approx(0.5e-3, rel=1e-3)
    spend(s, 5.0)
    assert s.get_last_lr()[0] == pytest.approx(1e-3, rel=1e-3)  # the peak at the end of the warm-up
    spend(s, 45.0)  # 55%: half-way down the linear decay
    assert s.get_last_lr()[0] == pytest.approx(0.5e-3, rel=1e-3)
    for _ in range(100):  # many fast steps barely move it: time, not steps, is the axis
        spend(s, 0.0)
    assert s.get_last_lr()[0] == pytest.approx(0.5e-3, rel=1e-2)
    spend(s, 45.0)
    assert s.get_last_lr()[0] == 0.0 and s.clock.spent and s.clock.left_seconds == 0.0


def test_max_steps_ends_the_schedule_when_it_comes_first():
    s = schedule(budget_seconds=1e6, max_steps=10, warmup=0.0)
    for _ in range(5):
        spend(s, 1.0)
    assert s.progress == pytest.approx(0.5) and s.get_last_lr()[0] == pytest.approx(0.5e-3)


def test_cosine_and_triangle_shapes():
    cosine = schedule(warmup=0.0, shape="cosine")
    spend(cosine, 50.0)
    assert cosine.get_last_lr()[0] == pytest.approx(0.5e-3, rel=1e-3)  # cos(pi/2) half-way
    triangle = schedule(warmup=0.5)  # Cramming's budget triangle: up for half the budget, down for the rest
    spend(triangle, 25.0)
    assert triangle.get_last_lr()[0] == pytest.approx(0.5e-3, rel=1e-3)
    spend(triangle, 50.0)
    assert triangle.get_last_lr()[0] == pytest.approx(0.5e-3, rel=1e-3)


def test_state_round_trips_through_the_trainers_safe_loader():
    s = schedule()
    spend(s, 30.0)
    buffer = io.BytesIO()
    torch.save(s.state_dict(), buffer)
    buffer.seek(0)
    resumed = schedule()
    resumed.load_state_dict(torch.load(buffer, weights_only=True))  # what Trainer does with scheduler.pt
    assert resumed.clock.spent_seconds == pytest.approx(30.0, abs=0.5)
    assert resumed.get_last_lr() == pytest.approx(s.get_last_lr(), rel=1e-3)
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(s.get_last_lr()[0], rel=1e-3)
    spend(resumed, 0.0)  # the pause between checkpoint and resumption is not charged
    assert resumed.clock.spent_seconds == pytest.approx(30.0, abs=0.5)


def test_callback_stops_with_a_checkpoint_when_the_budget_is_spent():
    s = schedule(budget_seconds=60.0)
    callback = BudgetCallback(reference_loss=7.5)
    args, state = SimpleNamespace(), SimpleNamespace(global_step=12, num_input_tokens_seen=0)
    callback.on_train_begin(args, state, TrainerControl(), lr_scheduler=s)
    spend(s, 30.0)
    assert not callback.on_step_end(args, state, TrainerControl(), lr_scheduler=s).should_training_stop
    spend(s, 30.0)
    control = callback.on_step_end(args, state, TrainerControl(), lr_scheduler=s)
    assert control.should_training_stop and control.should_save


def test_evaluation_time_is_not_charged():
    s = schedule(budget_seconds=60.0)
    callback = BudgetCallback()
    spend(s, 10.0)
    s.clock._mark -= 20.0  # 20 s of evaluation ...
    callback.on_evaluate(None, None, TrainerControl(), metrics={"eval_loss": 6.0}, lr_scheduler=s)  # ... then this
    spend(s, 1.0)
    assert s.clock.spent_seconds == pytest.approx(11.0, abs=0.5) and callback.last_eval_loss == 6.0


@pytest.mark.parametrize("flags, message", [
    (["--warmup_steps", "100"], "fraction of its budget"),
    (["--lr_scheduler_type", "reduce_lr_on_plateau", "--eval_strategy", "steps"], "not a function of progress"),
    (["--max_train_minutes", "0"], "expected a positive number"),
])
def test_bad_budget_flags_are_named(tmp_path, data_dir, flags, message):
    args = mlm_args(corpus_file(data_dir), data_dir, tmp_path / "run", "--max_train_minutes", "1", *flags)
    result = run_script("train_mlm.py", args, check=False)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_budgeted_run_killed_resumes_with_its_time_and_schedule_position(tmp_path, data_dir):
    """A 12-second budget, killed after its first checkpoint: the rerun continues the schedule where the checkpoint
    left it, with the time already spent, and ends at the end of the schedule (learning rate back to zero)."""
    out = tmp_path / "run"
    # No warm-up, so the learning rate only falls: a rerun that restarted the schedule would jump back to the peak,
    # wherever the kill lands (on a fast machine checkpoint-20 can come before a warm-up would end).
    args = mlm_args(corpus_file(data_dir), data_dir, out, "--max_train_minutes", "0.2", "--warmup_steps", "0",
                    "--save_steps", "10", "--logging_steps", "2", "--eval_strategy", "steps", "--eval_steps", "10")
    kill_after_checkpoint("train_mlm.py", args, out / "checkpoint-20", tmp_path / "first.log")
    checkpoint = last_complete_checkpoint(out)
    saved = torch.load(f"{checkpoint}/scheduler.pt", weights_only=True)
    assert 0 < saved["spent_seconds"] < 12 and saved["budget_seconds"] == 12
    killed_at = trainer_state(checkpoint)["global_step"]
    lr_at_kill = [e["learning_rate"] for e in trainer_state(checkpoint)["log_history"] if "learning_rate" in e][-1]

    result = run_script("train_mlm.py", args)  # the same command again
    log = result.stdout + result.stderr
    assert f"Resuming from checkpoint {checkpoint}" in log
    final_step = read_json(out / "results.json")["train"]["global_step"]
    final = trainer_state(out / f"checkpoint-{final_step}")
    after = [e["learning_rate"] for e in final["log_history"] if "learning_rate" in e and e["step"] > killed_at]
    assert after and after[0] <= lr_at_kill  # continues down the schedule: not restarted at the peak
    assert after == sorted(after, reverse=True)
    ended = torch.load(out / f"checkpoint-{final_step}" / "scheduler.pt", weights_only=True)
    assert set(ended["_last_lr"]) == {0.0}  # the schedule ran to its end
    assert 12 <= ended["spent_seconds"] < 20  # the killed run's seconds count: both processes together trained ~12 s
    # The progress line: budget left, speed, and the held-out loss beside the unigram reference.
    assert "min left" in log and "tokens/s" in log and "held-out loss" in log and "unigram" in log
    assert "rerunning the same command resumes from the last checkpoint with the time it had spent" in log
    assert read_json(out / "results.json")["eval"]["eval_unigram_cross_entropy"] > 0
