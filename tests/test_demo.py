"""``zoo demo --quick``: every step runs and leaves a complete results.json and the plot."""

from __future__ import annotations

import json

import pytest
from zoo_demo.demo import METHODS


def test_quick_demo_writes_results_and_plot(tmp_path, zoo):
    out = tmp_path / "demo"
    result = zoo("demo", "--quick", "--seeds", "1", "--out", str(out))
    assert result.exit_code == 0, result
    for label in ("source only", "feature extraction", "fine-tuning", "domain adaptation"):
        assert label in result.stdout
    assert "results.json" in result.stdout and "comparison.png" in result.stdout

    results = json.loads((out / "results.json").read_text())
    for method in METHODS:
        assert 0.0 <= results[method] <= 1.0
        assert results["per_seed"][method] == [results[method]]  # one seed: the mean is that value
        assert results["std"][method] == 0.0
        assert len(results["adapter_bytes"][method]) == 1 and results["adapter_bytes"][method][0] > 0
    assert set(results["timings_s"]) == {"source", *METHODS}
    assert all(len(times) == 1 and times[0] > 0 for times in results["timings_s"].values())
    assert results["total_s"] >= sum(times[0] for times in results["timings_s"].values()) - 1
    assert results["seeds"] == 1 and results["quick"] is True
    assert results["plan"]["backbone"] == "alexnet-small" and results["plan"]["shots"] == 10
    assert [len(v) for v in results["source_accuracy"].values()] == [1, 1]
    assert (out / "comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for run in ("source", "feature-extraction", "fine-tuning", "domain-adaptation"):
        assert (out / "seed-0" / run / "config.json").is_file()
    config = json.loads((out / "seed-0" / "domain-adaptation" / "config.json").read_text())
    assert config["training"]["target"] == "digits-m" and config["strategy"]["options"]["method"] == "dann"
    assert results["precision"] == config["training"]["precision"] == "float32"  # the default

    again = zoo("demo", "--quick", "--out", str(out))
    assert again.exit_code == 2 and "is not empty" in again.stderr


def test_demo_defaults_to_three_seeds(zoo):
    result = zoo("demo", "--help")
    assert result.exit_code == 0
    assert "--seeds" in result.stdout and "[default: 3;" in result.stdout


@pytest.mark.parametrize("seeds", ["0", "x"])
def test_demo_rejects_bad_seed_counts(zoo, seeds):
    result = zoo("demo", "--seeds", seeds)
    assert result.exit_code == 2


def test_demo_precision_reaches_every_stage(tmp_path):
    from zoo_demo.demo import DemoPlan, stages

    assert {stage.precision for stage in stages(DemoPlan(), tmp_path, 0, "auto").values()} == {"auto"}
    assert {stage.precision for stage in stages(DemoPlan(), tmp_path, 0).values()} == {"float32"}

