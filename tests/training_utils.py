"""Helpers for the tests of train_mlm.py / train_cls.py: small real-data arguments and script runners.

Every run uses the `tiny` preset narrowed further (hidden 64, one head) and small slices of ../shared/data, so a
training run takes seconds on a shared 2-core CPU.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
RECIPE_TOKENIZER = REPO_ROOT / "modeling_tlm" / "recipes" / "wikipedia-wordpiece-8k"  # shipped: 8,192 tokens
TINY = "hidden_size=64,num_attention_heads=1,intermediate_size=128"
# Fast runs: short sequences, small batches, no progress bars, no evaluation during MLM training.
FAST = ["--max_seq_length", "64", "--per_device_train_batch_size", "8", "--per_device_eval_batch_size", "32",
        "--logging_steps", "5", "--disable_tqdm", "true", "--learning_rate", "1e-3", "--report_to", "none"]


def corpus_file(data_dir: Path) -> Path:
    """The first WikiExtractor file of the Wikipedia copy (38 articles, 1 MB). Read in place, so the `datasets`
    cache of its tokenization is reused from run to run."""
    return sorted((data_dir / "wikipedia").rglob("wiki_*"))[0]


def mlm_args(corpus: Path, data_dir: Path, output_dir: Path, *extra: str) -> list[str]:
    return ["--model_preset", "tiny", "--config_overrides", TINY, "--train_file", str(corpus), "--data_dir",
            str(data_dir), "--output_dir", str(output_dir), "--pre_train_size", "200", "--max_eval_samples", "64",
            *FAST, *extra]


def cls_args(data_dir: Path, output_dir: Path, *extra: str, samples: int = 16) -> list[str]:
    return ["--task_name", "ag_news", "--data_dir", str(data_dir), "--output_dir", str(output_dir),
            "--samples_per_label_train", str(samples), "--samples_per_label_test", "16", *FAST, *extra]


@pytest.fixture
def one_thread():
    """Torch on one thread: on a shared, oversubscribed CPU, two threads per process make small models ~5x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def script_env(**extra: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "OMP_NUM_THREADS": "1", **extra}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def run_script(script: str, args: list[str], env: dict | None = None, timeout: int = 300, check: bool = True):
    """Run `python <script> args` from the repository root; returns the CompletedProcess (output captured)."""
    result = subprocess.run([sys.executable, str(REPO_ROOT / script), *args], cwd=REPO_ROOT, env=env or script_env(),
                            capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{script} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def kill_after_checkpoint(script: str, args: list[str], checkpoint: Path, log: Path, timeout: float = 300) -> None:
    """Run `python <script> args` until `checkpoint` is complete (its trainer_state.json written), then SIGKILL it:
    no chance to clean up, as a crash or a preemption."""
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, str(REPO_ROOT / script), *args], cwd=REPO_ROOT, env=script_env(),
                                   stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        try:
            while not (checkpoint / "trainer_state.json").exists():
                assert process.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, f"no {checkpoint.name} within {timeout:g} s"
                time.sleep(0.05)
        finally:
            process.kill()
            process.wait()


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def trainer_state(checkpoint: str | Path) -> dict:
    return read_json(Path(checkpoint) / "trainer_state.json")
