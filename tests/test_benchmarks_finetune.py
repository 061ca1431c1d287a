"""The fine-tuning benchmark (benchmarks/finetune_throughput.py): a few real Trainer steps of every candidate."""

import pytest


def test_benchmark_smoke(data_dir, tmp_path, capsys):
    """tiny preset, 3 windows: every candidate timed on the same batches, losses from the same start close."""
    from benchmarks.finetune_throughput import main

    rows = main(["--presets", "tiny", "--batch_size", "4", "--samples_per_label", "4", "--windows", "2",
                 "--warmup_windows", "1", "--window_steps", "1", "--data_dir", str(data_dir),
                 "--output_dir", str(tmp_path)])
    (row,) = rows
    for name in ("tlm", "stock", "stock padded"):
        assert len(row[f"{name} examples/s"]) == 2 and min(row[f"{name} examples/s"]) > 0
    assert row["ratio"] > 0 and len(row["window ratios"]) == 2 and row["padding ratio"] > 0
    # Same weights and batches: after 3 steps the losses (~ln 4) differ only by dropout noise.
    assert abs(row["tlm loss"] - row["stock loss"]) < 0.3
    printed = capsys.readouterr().out
    assert "AMD" in printed or "Intel" in printed or "CPUs" in printed  # the machine line names the CPU
    assert "| tiny |" in printed and "load average at end" in printed


def test_profile_splits_each_models_step(data_dir, tmp_path, capsys):
    """--profile_ops: after timing, one step of TLM and of stock BERT is profiled and its time split by op kind, printed
    and kept in the row; TLM's last layer at [CLS] alone shows as matmuls at fewer positions than every position."""
    from benchmarks.finetune_throughput import main

    (row,) = main(["--presets", "tiny", "--batch_size", "4", "--samples_per_label", "4", "--windows", "1",
                   "--warmup_windows", "0", "--window_steps", "1", "--no_padded_baseline", "--profile_ops", "5",
                   "--data_dir", str(data_dir), "--output_dir", str(tmp_path)])
    printed = capsys.readouterr().out
    for name in ("tlm", "stock"):
        assert f"profile of one {name} step (fp32):" in printed and f"{name} step split: " in printed
        split = row[f"{name} profile ms"]
        assert split["all"] >= split["dense"] + split["other"] + split["dropout"] and split["dense"] > 0
    assert row["tlm profile ms"]["other"] > 0  # the [CLS]-only last layer's products


@pytest.mark.parametrize("flags, named", [
    (["--presets", "bert-7"], "--presets"),
    (["--presets", "bert-1-conv2-k3-d64"], "conv front end"),
    (["--windows", "0"], "--windows"),
    (["--max_seq_length", "600"], "--max_seq_length"),
    (["--samples_per_label", "2"], "--samples_per_label"),
])
def test_bad_flags_are_named_before_work(data_dir, tmp_path, flags, named):
    from benchmarks.finetune_throughput import main

    with pytest.raises(ValueError, match=named):
        main(flags + ["--data_dir", str(data_dir), "--output_dir", str(tmp_path)])
