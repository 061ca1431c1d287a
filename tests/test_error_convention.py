"""Every command ends bad input the same way: `error: <message naming the culprit>` on stderr, exit status 2, no
traceback, before any work (scripts, `python -m modeling_tlm.data`, experiments/ and benchmarks/)."""

import subprocess
import sys

import pytest

from tests.training_utils import REPO_ROOT, script_env

MISSING = "/nonexistent/tlm-folder"

COMMANDS = {
    "train_mlm.py": (["train_mlm.py", "--model_preset", "tiny", "--output_dir", "{tmp}/out"], "--dataset_name"),
    "train_cls.py": (["train_cls.py", "--from_scratch", "--model_preset", "tiny", "--task_name", "ag_news",
                      "--data_dir", MISSING, "--output_dir", "{tmp}/out"], MISSING),
    "train_committee.py": (["train_committee.py", "--output_dir", "{tmp}/out", "--member_presets", "bert-7",
                            "--pretrain_seeds", "1"], "bert-7"),
    "modeling_tlm.data": (["-m", "modeling_tlm.data", "sequences", "--tokenizer_name", MISSING], MISSING),
    "modeling_tlm.committee": (["-m", "modeling_tlm.committee", "assemble", "--members", MISSING, "--output_dir",
                                "{tmp}/out"], MISSING),
    "experiments.run": (["-m", "experiments.run", "--grid", "tiny", "--data_dir", MISSING], MISSING),
    "experiments.report": (["-m", "experiments.report", "--grid", "recipe", "--results_dir", MISSING], MISSING),
    "experiments.committee": (["-m", "experiments.committee", "--output_dir", "{tmp}/out", "--task_name", "ag_news",
                               "--members", MISSING, "--min_size", "1"], MISSING),
    "experiments.latency": (["-m", "experiments.latency", "--output_dir", "{tmp}/out", "--task_name", "ag_news",
                             "--deep", MISSING, "--members", MISSING], MISSING),
    "experiments.attention_locality": (["-m", "experiments.attention_locality", "--checkpoints", MISSING,
                                        "--output_dir", "{tmp}/out"], MISSING),
    "experiments.tfidf": (["-m", "experiments.tfidf", "--output_dir", "{tmp}/out", "--task_name", "ag_news",
                           "--data_dir", MISSING], MISSING),
    "experiments.contamination": (["-m", "experiments.contamination", "--output_dir", "{tmp}/out", "--data_dir",
                                   MISSING], MISSING),
    "experiments.ship": (["-m", "experiments.ship", "--grid", "tapt-runs", "--cell", "pt-nonexistent",
                          "--output_dir", "{tmp}/out"], "pt-nonexistent"),
    "benchmarks.pretrain_throughput": (["-m", "benchmarks.pretrain_throughput", "--presets", "bert-7"], "bert-7"),
    "benchmarks.finetune_throughput": (["-m", "benchmarks.finetune_throughput", "--presets", "bert-7"], "bert-7"),
    "benchmarks.inference_latency": (["-m", "benchmarks.inference_latency", "--presets", "bert-7"], "bert-7"),
    "benchmarks.committee_latency": (["-m", "benchmarks.committee_latency", "--presets", "bert-7"], "bert-7"),
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_bad_input_is_one_error_line_and_status_2(tmp_path, command):
    argv, culprit = COMMANDS[command]
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    result = subprocess.run([sys.executable, *argv], cwd=REPO_ROOT, env=script_env(), capture_output=True, text=True,
                            timeout=180)
    assert result.returncode == 2, result.stdout[-1500:] + result.stderr[-1500:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and culprit in last, result.stderr[-1500:]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())  # no work started
