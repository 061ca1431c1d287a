"""Resuming: a training process killed after its first checkpoint continues from it when the same command is rerun."""

import pytest

from modeling_tlm.training.resume import FINGERPRINT_NAME, last_complete_checkpoint
from tests.training_utils import corpus_file, kill_after_checkpoint, mlm_args, read_json, run_script, trainer_state


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

    result = run_script("train_mlm.py", args)  # the same command again
    assert f"Resuming from checkpoint {checkpoint}" in result.stdout + result.stderr
    results = read_json(out / "results.json")
    assert results["train"]["resumed_from_step"] == killed_at
    assert results["train"]["global_step"] == 16
    final = trainer_state(out / "checkpoint-16")
    assert final["global_step"] == 16
    # The state came from the checkpoint: the losses logged by the killed process are still in the history.
    before = [e for e in trainer_state(checkpoint)["log_history"] if "loss" in e]
    assert before and before == [e for e in final["log_history"] if "loss" in e and e["step"] <= killed_at]
