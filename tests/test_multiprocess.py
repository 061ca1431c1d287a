"""`accelerate launch --multi_gpu --num_processes 2 train_mlm.py`: two ranks (gloo on CPU) train one model."""

import math
import subprocess
import sys

import pytest
import torch

from tests.training_utils import REPO_ROOT, corpus_file, mlm_args, read_json, script_env, trainer_state


def launch_two_ranks(args: list[str]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               str(REPO_ROOT / "train_mlm.py"), *args]
    result = subprocess.run(command, cwd=REPO_ROOT, env=script_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.mark.slow
def test_two_ranks_finish_and_write_one_checkpoint(tmp_path, data_dir):
    out = tmp_path / "ddp"
    launch_two_ranks(mlm_args(corpus_file(data_dir), data_dir, out, "--max_steps", "6", "--save_steps", "6"))

    assert [p.name for p in out.glob("checkpoint-*")] == ["checkpoint-6"]
    checkpoint = out / "checkpoint-6"
    assert {"rng_state_0.pth", "rng_state_1.pth"} <= {p.name for p in checkpoint.iterdir()}  # one per rank
    state = trainer_state(checkpoint)
    # An epoch of 200 sequences is ceil(200 / (2 ranks x 8)) = 13 steps: the ranks split the data (one rank: 25).
    assert state["global_step"] == 6 and state["epoch"] == pytest.approx(6 / math.ceil(200 / (2 * 8)))
    assert "8 per device x 2 process(es)" in (out / "README.md").read_text()
    assert read_json(out / "results.json")["train"]["global_step"] == 6


@pytest.mark.slow
def test_two_ranks_follow_one_budget_clock(tmp_path, data_dir):
    """Both ranks take rank 0's spent time: they stop at the same step (a rank stopping alone would leave the other
    waiting in its next all-reduce until the timeout) with the schedule at its end."""
    out = tmp_path / "ddp-budget"
    launch_two_ranks(mlm_args(corpus_file(data_dir), data_dir, out, "--max_train_minutes", "0.1",
                              "--warmup_steps", "0.1", "--save_strategy", "no"))
    step = read_json(out / "results.json")["train"]["global_step"]
    checkpoint = out / f"checkpoint-{step}"  # the budget's own save when it is spent
    scheduler = torch.load(checkpoint / "scheduler.pt", weights_only=True)
    assert step > 1 and scheduler["spent_seconds"] >= 6 and set(scheduler["_last_lr"]) == {0.0}
