"""Resuming and the output folder: a killed run continues when its command is rerun, a finished one is left alone,
and a folder has one writer at a time."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import train_mlm
from modeling_tlm.training.resume import (
    FINGERPRINT_NAME,
    LOCK_NAME,
    OutputDirError,
    last_complete_checkpoint,
    lock_output_dir,
    release_output_dirs,
)
from tests.training_utils import (
    RECIPE_TOKENIZER,
    REPO_ROOT,
    TINY,
    corpus_file,
    kill_after_checkpoint,
    mlm_args,
    read_json,
    run_script,
    script_env,
    trainer_state,
)


def test_last_complete_checkpoint_skips_a_partial_one(tmp_path):
    for step, complete in ((5, True), (10, True), (15, False)):  # checkpoint-15: killed while saving
        (tmp_path / f"checkpoint-{step}").mkdir()
        if complete:
            (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")
    assert last_complete_checkpoint(tmp_path / "missing") is None


@pytest.mark.slow
def test_rerun_after_kill_resumes_from_the_checkpoint(tmp_path, data_dir):
    out = tmp_path / "run"
    args = mlm_args(corpus_file(data_dir), data_dir, out, "--max_steps", "16", "--save_steps", "4",
                    "--logging_steps", "2")
    kill_after_checkpoint("train_mlm.py", args, out / "checkpoint-4", tmp_path / "first.log")
    checkpoint = last_complete_checkpoint(out)
    killed_at = trainer_state(checkpoint)["global_step"]
    assert 4 <= killed_at < 16 and not (out / "model.safetensors").exists()  # killed mid-run
    assert (out / FINGERPRINT_NAME).exists()
    before = [e for e in trainer_state(checkpoint)["log_history"] if "loss" in e]  # read now: the limit may delete it

    result = run_script("train_mlm.py", args)  # the same command again
    assert f"Resuming from checkpoint {checkpoint}" in result.stdout + result.stderr
    results = read_json(out / "results.json")
    assert results["train"]["resumed_from_step"] == killed_at
    assert results["train"]["global_step"] == 16
    final = trainer_state(out / "checkpoint-16")
    assert final["global_step"] == 16
    # The state came from the checkpoint: the losses logged by the killed process are still in the history.
    assert before and before == [e for e in final["log_history"] if "loss" in e and e["step"] <= killed_at]


@pytest.mark.slow
def test_rerun_after_kill_with_save_total_limit_finishes_and_a_finished_run_is_left_alone(tmp_path, data_dir):
    """--save_total_limit 1 deletes the checkpoint a rerun resumed from while it trains; the rerun still finishes
    (results, test score, final model), and rerunning a finished command changes nothing."""
    out = tmp_path / "run"
    args = mlm_args(corpus_file(data_dir), data_dir, out, "--max_steps", "20", "--save_steps", "5",
                    "--save_total_limit", "1")
    kill_after_checkpoint("train_mlm.py", args, out / "checkpoint-10", tmp_path / "first.log")
    killed_at = trainer_state(last_complete_checkpoint(out))["global_step"]
    assert 10 <= killed_at < 20

    run_script("train_mlm.py", args)
    results = read_json(out / "results.json")
    assert results["train"]["resumed_from_step"] == killed_at and results["train"]["global_step"] == 20
    assert results["train"]["train_loss"] > 0 and (out / "model.safetensors").is_file()
    assert not (out / f"checkpoint-{killed_at}").exists()  # the limit deleted it: the case that used to lose the run

    finished = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != LOCK_NAME}
    again = run_script("train_mlm.py", args)
    assert "already holds this run, finished" in again.stderr and again.returncode == 0
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != LOCK_NAME} == finished


def _hold_lock_in_a_child(folder) -> subprocess.Popen:
    code = f"from modeling_tlm.training.resume import lock_output_dir; lock_output_dir({str(folder)!r}); " \
           "print('locked', flush=True); import time; time.sleep(120)"
    child = subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, env=script_env(), stdout=subprocess.PIPE,
                             text=True)
    assert child.stdout.readline().strip() == "locked"
    return child


def test_a_second_writer_is_refused_and_a_dead_writers_lock_is_taken_over(tmp_path):
    folder = tmp_path / "out"
    child = _hold_lock_in_a_child(folder)
    try:
        with pytest.raises(OutputDirError, match=rf"is in use: process {child.pid} is training into it"):
            lock_output_dir(folder)
    finally:
        child.kill()  # SIGKILL: no clean-up, the lock file stays behind with the dead PID in it
        child.wait()
    assert (folder / LOCK_NAME).read_text().strip() == str(child.pid)
    try:
        lock_output_dir(folder)  # the kernel dropped the dead process's lock
        assert (folder / LOCK_NAME).read_text().strip() == str(os.getpid())
    finally:
        release_output_dirs()


def test_two_training_processes_on_one_output_dir(tmp_path, data_dir):
    """The second command stops at once with the first one's PID, before reading any data; the first is unharmed."""
    out = tmp_path / "run"
    child = _hold_lock_in_a_child(out)  # stands for a training process: the same lock, taken the same way
    try:
        result = run_script("train_mlm.py", mlm_args(corpus_file(data_dir), data_dir, out, "--max_steps", "4"),
                            check=False)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert f"error: --output_dir {out} is in use: process {child.pid}" in result.stderr
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # the second command wrote nothing
    finally:
        child.kill()
        child.wait()


def test_output_dir_that_is_not_writable(tmp_path, data_dir):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputDirError, match=rf"--output_dir {blocker}/out: cannot write there"):
        train_mlm.main(mlm_args(corpus_file(data_dir), data_dir, blocker / "out", "--max_steps", "4"))


def test_damaged_run_record_is_named(tmp_path, data_dir):
    out = tmp_path / "run"
    (out / "checkpoint-5").mkdir(parents=True)
    (out / FINGERPRINT_NAME).write_text('{"script": "train_mlm", "argum')  # truncated by a full disk, say
    with pytest.raises(OutputDirError, match=rf"{out / FINGERPRINT_NAME}: not valid JSON"):
        train_mlm.main(mlm_args(corpus_file(data_dir), data_dir, out, "--max_steps", "4"))


@pytest.fixture
def small_disk(tmp_path):
    """A 10 MB filesystem (tmpfs), to fill up for real; skips where mounting is not permitted."""
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=10m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({made.stderr.decode().strip()}): the full-disk case needs root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)])


@pytest.mark.slow
def test_full_disk_names_the_checkpoint_keeps_the_last_one_and_the_rerun_finishes(small_disk, data_dir):
    """With an 8k vocabulary a checkpoint of this model is about 7 MB: the first fits on the 10 MB disk, the second
    does not. The run stops with an error naming both, and once there is room the same command resumes and ends."""
    out = small_disk / "run"
    args = mlm_args(corpus_file(data_dir), data_dir, out, "--tokenizer_name", str(RECIPE_TOKENIZER), "--max_steps", "8",
                    "--save_steps", "4")
    result = run_script("train_mlm.py", args, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith(f"error: {out / 'checkpoint-8'}: could not be written (") and "MiB free" in message
    assert f"the last complete checkpoint, {out / 'checkpoint-4'}, is intact" in message
    assert last_complete_checkpoint(out) == str(out / "checkpoint-4")

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)  # room again
    run_script("train_mlm.py", args)
    results = read_json(out / "results.json")
    assert results["train"]["resumed_from_step"] == 4 and results["train"]["global_step"] == 8


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def _complete_checkpoints(out_dir) -> set:
    return {c.name for c in out_dir.glob("checkpoint-*") if (c / "trainer_state.json").exists()}


def _kill_at(args, log, moment):
    """Start the command and SIGKILL it at `moment`: ("after", k, s) s seconds after it has written k new
    checkpoints, or ("saving", k) once it has written k and is in the middle of writing (or rotating) another."""
    out_dir = Path(args[args.index("--output_dir") + 1])
    before = _complete_checkpoints(out_dir)
    with open(log, "a") as out:
        process = subprocess.Popen([sys.executable, str(REPO_ROOT / "train_mlm.py"), *args], cwd=REPO_ROOT,
                                   env=script_env(), stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 300
        try:
            while process.poll() is None and time.monotonic() < deadline:
                if len(_complete_checkpoints(out_dir) - before) >= moment[1]:
                    if moment[0] == "after":
                        time.sleep(moment[2])
                        break
                    if any(not (c / "trainer_state.json").exists() for c in out_dir.glob("checkpoint-*")):
                        break
                time.sleep(0.002)
        finally:
            process.kill()
            process.wait()


@pytest.mark.slow
def test_killed_five_times_then_finished_equals_an_uninterrupted_run(tmp_path, data_dir):
    """SIGKILL at random moments, once in the middle of a checkpoint write, five times in a row; then the same
    command runs to the end. Its final weights are bit-identical to an uninterrupted run's: the Trainer restores
    model, optimizer, scheduler, data position and the RNG state dropout draws from, and MLMCollator's masks depend
    only on the seed and the batch, not on where the run started (fp32, one thread, CPU)."""
    import random

    def args(out):
        return mlm_args(corpus_file(data_dir), data_dir, out, "--max_steps", "150", "--save_steps", "5",
                        "--config_overrides", TINY + ",hidden_dropout_prob=0.1,attention_probs_dropout_prob=0.1")

    reference = tmp_path / "uninterrupted"
    run_script("train_mlm.py", args(reference))
    out = tmp_path / "killed"
    rng = random.Random(0)
    moments = [("after", rng.randint(1, 2), rng.uniform(0, 0.3)) for _ in range(4)]
    moments.insert(2, ("saving", 1))
    progress = []
    for moment in moments:
        _kill_at(args(out), tmp_path / "killed.log", moment)
        progress.append(trainer_state(last_complete_checkpoint(out))["global_step"])
    assert progress == sorted(progress) and len(set(progress)) == 5  # every killed run got further than the last
    assert not (out / "results.json").exists()  # none of the killed runs finished
    run_script("train_mlm.py", args(out))
    train = read_json(out / "results.json")["train"]
    assert train["resumed_from_step"] == progress[-1] and train["global_step"] == 150  # resumed, not restarted
    mine, theirs = _weights(out), _weights(reference)
    assert mine.keys() == theirs.keys()
    for key in theirs:
        assert torch.equal(mine[key], theirs[key]), key
