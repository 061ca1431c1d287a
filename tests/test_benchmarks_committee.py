"""Smoke test of benchmarks/committee_latency.py: a couple of timed calls on tiny presets."""

import json

import pytest

from benchmarks import committee_latency

TINY_RUN = ["--baseline", "tiny", "--presets", "tiny", "--sizes", "1", "2", "--batch_sizes", "1", "2",
            "--dtypes", "fp32", "bf16", "--iters", "2", "--warmup", "1", "--min_iters", "1", "--seq_len", "16",
            "--processes", "false"]


def test_tiny_run_prints_every_figure(tmp_path, capsys):
    out = tmp_path / "latency.json"
    rows = committee_latency.main(TINY_RUN + ["--output_json", str(out)])
    names = ["tiny (baseline)", "tiny: one member alone", "tiny x1: sequential", "tiny x1: fused",
             "tiny x2: sequential", "tiny x2: fused"]
    assert [r["model"] for r in rows] == names * 4  # per (dtype, batch size)
    assert {(r["dtype"], r["batch_size"]) for r in rows} == {("fp32", 1), ("fp32", 2), ("bf16", 1), ("bf16", 2)}
    for r in rows:
        assert r["calls"] == 2 and 0 < r["p50"] <= r["p95"]
    baseline = [r for r in rows if r["model"] == "tiny (baseline)"]
    assert all(r["ratio_p50"] == 1.0 and r["ratio_p95"] == 1.0 for r in baseline)
    flops = {r["model"]: r["gflops"] for r in rows}
    # A 2-member committee computes twice one member's work; fused or one by one, each member's last layer runs at
    # [CLS] only, so both paths do the same work.
    assert flops["tiny x2: sequential"] == pytest.approx(2 * flops["tiny x1: sequential"], rel=1e-6)
    assert flops["tiny x2: fused"] == pytest.approx(flops["tiny x2: sequential"], rel=1e-6)
    assert flops["tiny: one member alone"] == pytest.approx(flops["tiny x1: fused"], rel=1e-6)
    printed = capsys.readouterr().out
    assert "| dtype | batch | model | GFLOPs / seq |" in printed and "| bf16 | 2 | tiny x2: fused |" in printed
    assert len(json.loads(out.read_text())["rows"]) == len(rows)


def test_gflops_cap_skips_figures(capsys):
    rows = committee_latency.main(["--baseline", "tiny", "--presets", "tiny", "--sizes", "2", "--batch_sizes", "1",
                                   "--dtypes", "fp32", "--iters", "1", "--warmup", "0", "--seq_len", "16",
                                   "--max_call_gflops", "1e-9", "--processes", "false"])
    skipped = [r["model"] for r in rows if not r["calls"]]
    assert skipped == ["tiny: one member alone", "tiny x2: sequential", "tiny x2: fused"]  # the baseline always runs
    assert "skipped:" in capsys.readouterr().out


def test_members_in_processes_are_timed_in_fp32_only():
    rows = committee_latency.main(["--baseline", "tiny", "--presets", "tiny", "--sizes", "2", "--batch_sizes", "1",
                                   "--dtypes", "fp32", "bf16", "--iters", "2", "--warmup", "1", "--seq_len", "16"])
    figure = {r["dtype"]: r for r in rows if r["model"] == "tiny x2: one process per member"}
    assert figure["fp32"]["calls"] == 2 and figure["fp32"]["p50"] > 0
    assert figure["bf16"]["calls"] == 0 and "fp32 only" in figure["bf16"]["skipped"]


@pytest.mark.parametrize("flags, named", [
    (["--presets", "bert-7"], "--presets"),
    (["--dtypes", "fp16"], "--dtypes"),
    (["--sizes", "0"], "--sizes"),
    (["--seq_len", "500"], "--seq_len"),
])
def test_bad_flags_are_named(flags, named):
    with pytest.raises(ValueError, match=named):
        committee_latency.main(flags)


def test_target_line():
    def row(model, ratio, p50):
        return dict(group="bert-1", model=model, dtype="fp32", batch_size=1, calls=5, ratio_p50=ratio, p50=p50)

    met = committee_latency.target_lines([row("bert-1 x3: fused", 0.3, 30.0), row("bert-1 x3: sequential", 0.45, 45.0)])
    assert len(met) == 1 and met[0].endswith(": met")
    missed = committee_latency.target_lines([row("bert-1 x3: fused", 0.5, 50.0), row("bert-1 x3: sequential", 0.45, 45.0)])
    assert missed[0].endswith("NOT met")
    assert committee_latency.target_lines([row("bert-1 x2: fused", 0.3, 30.0)]) == []
