"""benchmarks/run.py --quick --json: every ratio is measured, and none has regressed badly.

The bounds are far from the goals on purpose: other processes share the machine's two
cores while this runs, and --quick's small workloads leave fixed costs a larger share.
Each bound sits between what the code does now and what a real regression would give.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

RATIOS = ("startup_vs_tf_import", "fe_cached_vs_naive_10ep", "predict_vs_keras", "finetune_vs_keras_fit",
          "tflite_vs_keras_predict", "kerashub_fe_vs_keras", "folder_decode_vs_keras", "finetune_auto_vs_float32", "fe_time_growth_10x",
          "fe_vs_one_pass", "fe_head_vs_logreg", "da_vs_adapt_dann",
          "da_vs_source_only_pts")
EXTRA_RATIOS = ("fe_peak_rss_growth_10x", "predict_peak_rss_growth_10x", "evaluate_peak_rss_growth_10x")


@pytest.fixture(scope="module")
def quick_run() -> tuple[dict, dict]:
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick", "--json"],
                          capture_output=True, text=True, timeout=900, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    ratios = json.loads(done.stdout.strip().splitlines()[-1])
    details = json.loads(done.stderr.strip().splitlines()[-1])["details"]
    print(json.dumps(ratios))
    return ratios, details


@pytest.mark.slow
def test_every_ratio_is_measured_with_its_goal(quick_run):
    ratios, details = quick_run
    assert set(ratios) == set(RATIOS) | set(EXTRA_RATIOS)
    for name in (*RATIOS, *EXTRA_RATIOS):
        if name == "da_vs_source_only_pts":  # points gained (one epoch at --quick: may be negative)
            assert isinstance(ratios[name], float) and details[name]["measured_by"] == "da_vs_adapt_dann"
            continue
        assert isinstance(ratios[name], float) and ratios[name] > 0, (name, ratios[name])
        assert details[name]["goal"] and details[name]["seconds"] > 0


@pytest.mark.slow
def test_catalogue_commands_do_not_import_tensorflow(quick_run):
    ratios, details = quick_run
    # about 0.03 (0.1 s against 3-5 s); importing TensorFlow would make it about 1
    assert ratios["startup_vs_tf_import"] < 0.5, details["startup_vs_tf_import"]


@pytest.mark.slow
def test_feature_extraction_runs_the_backbone_once(quick_run):
    ratios, details = quick_run
    # 0.25-0.45 at --quick (0.11 at full size); a backbone pass every epoch would be 1 or more
    assert ratios["fe_cached_vs_naive_10ep"] < 0.7, details["fe_cached_vs_naive_10ep"]


@pytest.mark.slow
def test_predict_keeps_up_with_plain_keras(quick_run):
    ratios, details = quick_run
    info = details["predict_vs_keras"]
    # the benchmark checked that both sides predicted the same probabilities for every file;
    # about 0.85-1.4 at --quick, where loading and tracing a fresh model dominate both sides
    assert 0.5 < ratios["predict_vs_keras"] < 3, info
    assert info["images"] > 0 and info["zoo_load_s"] > 0 and info["zoo_predict_s"] > 0


@pytest.mark.slow
def test_fine_tuning_keeps_up_with_plain_keras_fit(quick_run):
    ratios, details = quick_run
    info = details["finetune_vs_keras_fit"]
    # zoo trains what plain Keras trains: ResNet50's conv5 without BatchNorm (about 15M parameters)
    assert info["trainable_backbone_parameters"] > 10_000_000, info
    # 0.8-1.1 at --quick (1.2-1.5 at full size) on a shared 2-core machine: ~1 s epochs, one
    # weights-only checkpoint per run; plain Keras now and then waits ~2 s at the end of a run for
    # tf.data's autotuning thread (see README), which zoo's pipelines run without; 2.5 times Keras'
    # time per image is a regression
    assert 0.4 < ratios["finetune_vs_keras_fit"] < 3, info


@pytest.mark.slow
def test_tflite_export_is_timed_on_what_keras_predicts(quick_run):
    ratios, details = quick_run
    info = details["tflite_vs_keras_predict"]
    # the export was checked in the interpreter, and the benchmark compared both sides' probabilities;
    # no goal yet: any positive ratio is a measurement
    assert info["export_check"] < 1e-4 and info["tflite_ms_per_image"] > 0 and info["keras_ms_per_image"] > 0, info
    assert ratios["tflite_vs_keras_predict"] > 0


@pytest.mark.slow
def test_feature_extraction_costs_about_one_backbone_pass(quick_run):
    ratios, details = quick_run
    info = details["fe_vs_one_pass"]
    # at --quick (128 images at 32 px, a 0.3 s pass) the head's 10 epochs dominate: about 4-8;
    # a backbone pass per epoch would add about 10 more passes on top
    assert 1 < ratios["fe_vs_one_pass"] < 20, info
    assert info["zoo_feature_pass_s"][0] > 0 and info["keras_one_pass_s"][0] > 0


@pytest.mark.slow
def test_input_pipeline_and_precision_are_compared(quick_run):
    ratios, details = quick_run
    # decoding 200 small JPEGs: 0.3-0.4 at --quick (fixed costs); 0.05 would be a regression
    assert 0.05 < ratios["folder_decode_vs_keras"] < 10, details["folder_decode_vs_keras"]
    info = details["finetune_auto_vs_float32"]
    # about 1.0 at --quick (a 3-epoch run is mostly its final checkpoint); both runs report their accuracy
    assert 0.3 < ratios["finetune_auto_vs_float32"] < 5, info
    assert info["auto_policy"] in ("float32", "mixed_bfloat16", "mixed_float16") and info["gpu_measured"] is not None
    assert all(0 <= a <= 1 for a in info["auto_final_val_accuracy"] + info["float32_final_val_accuracy"])


@pytest.mark.slow
def test_cost_and_memory_grow_with_the_dataset_as_measured(quick_run):
    ratios, details = quick_run
    info = details["fe_time_growth_10x"]
    # at --quick (100 and 1,000 tiny images) the processes' fixed costs dominate: about 1.0-1.2 for
    # time and 1.0-1.05 for memory; a decode cache or features growing with the data would show here
    assert 0.5 < ratios["fe_time_growth_10x"] < 10.5, info
    for name in EXTRA_RATIOS:
        assert 0.7 < ratios[name] < 1.5, (name, info)


def test_a_childs_peak_memory_is_its_own_not_the_benchmark_process_s():
    """Linux hands a forked child the parent's resident high-water mark: measured straight from a
    4.4 GiB benchmark process, every command "peaked" at 4.4 GiB and every memory ratio read 1.0."""
    import numpy as np

    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_growth import child

    ballast = np.ones((400 << 20) // 8)  # 400 MiB, every page touched
    _, small = child([sys.executable, "-c", "pass"])
    _, large = child([sys.executable, "-c", "import numpy as np; x = np.ones((200 << 20) // 8)"])
    assert small < 100 and 200 < large < 400, (small, large, ballast.size)
    with pytest.raises(RuntimeError, match="failed .* boom"):
        child([sys.executable, "-c", "import sys; sys.exit('boom')"])


@pytest.mark.slow
def test_feature_extraction_heads_reach_logistic_regression(quick_run):
    ratios, details = quick_run
    info = details["fe_head_vs_logreg"]
    # the same features and split for both; at --quick 80 validation images, so one image is 0.05 of the
    # ratio (0.95 measured); a head that stopped far from its optimum scored 0.87 at full size
    assert info["logreg_accuracy"] > 0.15 and ratios["fe_head_vs_logreg"] > 0.75, info


@pytest.mark.slow
def test_adaptation_reports_every_shift_and_method(quick_run):
    """The quick form's numbers mean nothing (one epoch); its report must have the full form's shape."""
    ratios, details = quick_run
    info = details["da_vs_adapt_dann"]
    assert info["adapt"] is True and info["skipped"] == []  # ADAPT comes with the test extra
    assert info["default_method"] == "mcc"
    assert set(info["gain_pts"]) == {"texture", "fonts"}
    assert set(info["mean_over_shifts"]) == {"source_only", "mcc", "adapt_dann"}
    assert all(0.0 <= v <= 1.0 for v in info["mean_over_shifts"].values())
    assert ratios["da_vs_source_only_pts"] == pytest.approx(sum(info["gain_pts"].values()) / 2, abs=0.06)
