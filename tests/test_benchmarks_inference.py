"""The inference benchmark (benchmarks/inference_latency.py): every figure timed and checked against TLM."""

import numpy as np
import pytest
import torch

from benchmarks import inference_latency


def test_tiny_run_times_every_figure(tmp_path):
    pytest.importorskip("onnxruntime", reason="the export extra (pip install -e '.[export]') is not installed")
    out = tmp_path / "latency.json"
    rows = inference_latency.main(["--presets", "tiny", "--batch_sizes", "1", "3", "--iters", "2", "--warmup", "1",
                                   "--seq_len", "16", "--output_json", str(out)])
    figures = ["TLM (PyTorch)", "stock BERT (PyTorch)", "TLM (ONNX Runtime)"]
    assert [(r["batch_size"], r["model"]) for r in rows] == [(b, f) for b in (1, 3) for f in figures]
    for r in rows:
        assert r["calls"] == 2 and 0 < r["p50"] <= r["p95"]
    assert all(r["speedup_vs_stock"] == 1.0 for r in rows if r["model"] == "stock BERT (PyTorch)")
    assert out.is_file()


def test_a_wrong_figure_is_refused():
    """The outputs are compared before timing: a figure that answers differently stops the run."""
    calls = {"right": lambda ids, mask: np.zeros((1, 2)), "wrong": lambda ids, mask: np.ones((1, 2))}
    args = inference_latency.InferenceArguments(iters=1, warmup=0)
    with pytest.raises(AssertionError, match="wrong"):
        inference_latency.time_calls(calls, torch.zeros(1, 4, dtype=torch.long), torch.ones(1, 4), args)


@pytest.mark.parametrize("flags, named", [
    (["--presets", "bert-7"], "--presets"),
    (["--presets", "bert-1-conv2-k3-d64"], "conv front end"),
    (["--seq_len", "600"], "--seq_len"),
    (["--batch_sizes", "0"], "--batch_sizes"),
])
def test_bad_flags_are_named(flags, named):
    with pytest.raises(ValueError, match=named):
        inference_latency.main(flags)
