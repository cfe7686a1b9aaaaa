"""Every input of every stage is checked before the first stage trains or anything is written."""

import textwrap

import pytest

TWO_STAGES = """
[[stages]]
name = "source"
backbone = "alexnet-small"
weights = "none"
dataset = "digits"
epochs = 1
out = "{root}/source"

[[stages]]
name = "target"
from = "source"
dataset = "{dataset}"
out = "{root}/target"
[stages.strategy]
name = "fine-tuning"
unfreeze = "{unfreeze}"
"""


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize("dataset,unfreeze,message", [
    ("folder:/nonexistent/data", "1", "stage target: dataset folder '/nonexistent/data' does not exist"),
    ("digits-m", "conv9", "stage target: backbone 'alexnet-small' has no stage 'conv9'; its stages, first to last, "
                          "are conv1, conv2, conv3, conv4, conv5, fc6, fc7 (or give a number or 'all')"),
])
def test_a_late_stage_with_a_bad_input_stops_the_pipeline_before_stage_one(zoo, tmp_path, dataset, unfreeze, message):
    pipeline = write(tmp_path / "late.toml", TWO_STAGES.format(root=tmp_path, dataset=dataset, unfreeze=unfreeze))
    result = zoo("run", str(pipeline))
    assert result.exit_code == 2, result
    assert result.stderr == f"zoo: error: {pipeline}: {message}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["late.toml"]  # stage 1 neither trained nor started


def test_a_folder_with_other_classes_than_the_source_is_refused_up_front(zoo, tmp_path):
    from imagegen import make_shapes_folder

    shapes = make_shapes_folder(tmp_path / "shapes", per_class=2, size=32)
    pipeline = write(tmp_path / "p.toml", TWO_STAGES.format(root=tmp_path, dataset="digits", unfreeze="1")
                     .replace('dataset = "digits"\nout = "' + str(tmp_path) + '/target"',
                              f'dataset = "digits"\ntarget = "folder:{shapes}"\nout = "{tmp_path}/target"')
                     .replace('name = "fine-tuning"', 'name = "domain-adaptation"'))
    result = zoo("run", str(pipeline))
    assert result.exit_code == 2, result
    assert result.stderr.startswith(f"zoo: error: {pipeline}: stage target: target 'folder:{shapes}' has classes "
                                    "['circle', 'square', 'triangle']..., the source 'digits' has ['0', '1', '2'")
    assert not (tmp_path / "source").exists() and not (tmp_path / "source.partial").exists()


def test_unfreeze_is_checked_before_out_partial_exists(zoo, tmp_path):
    out = tmp_path / "x"
    result = zoo("train", "--backbone", "alexnet-small", "--dataset", "digits", "--strategy", "fine-tuning",
                 "--unfreeze", "conv9", "--out", str(out))
    assert result.exit_code == 2
    assert result.stderr.startswith("zoo: error: command line: backbone 'alexnet-small' has no stage 'conv9'")
    assert list(tmp_path.iterdir()) == []


def test_unfreeze_of_a_stage_from_a_run_folder_is_checked_against_that_run(zoo, tmp_path):
    """`from` a run on disk: its config names the backbone whose stages --unfreeze must use."""
    import json

    parent = tmp_path / "parent"
    parent.mkdir()
    (parent / "config.json").write_text(json.dumps({"backbone": {"name": "alexnet-small"}}))
    result = zoo("train", "--from", str(parent), "--dataset", "digits", "--strategy", "fine-tuning",
                 "--unfreeze", "block5", "--out", str(tmp_path / "child"))
    assert result.exit_code == 2
    assert "backbone 'alexnet-small' has no stage 'block5'" in result.stderr
    assert not (tmp_path / "child.partial").exists()


@pytest.mark.parametrize("text,message", [
    ("stages = [1, 2]\n", "stage 1 must be a table of settings ([[stages]] followed by key = value lines), got 1"),
    ('[[stages]]\nname = "a"\nbackbone = "alexnet-small"\ndataset = "digits"\nepoch = 3\n',
     "stage a: unknown key 'epoch' (did you mean 'epochs'?) (known keys: "),
    ('[[stages]]\nbackbone = "alexnet-small"\ndataset = "digits"\n[stages.strategy]\nname = "fine-tuning"\n'
     'unfrezee = "2"\n', "stage 1: unknown option 'unfrezee' for strategy 'fine-tuning' (did you mean 'unfreeze'?)"),
])
def test_malformed_pipeline_files_are_one_line(zoo, tmp_path, text, message):
    pipeline = write(tmp_path / "p.toml", text)
    result = zoo("run", str(pipeline))
    assert result.exit_code == 2, result
    assert result.stderr.startswith(f"zoo: error: {pipeline}: {message}") and result.stderr.count("\n") == 1


def test_a_bad_weights_file_of_a_later_stage_is_found_first(zoo, tmp_path):
    pipeline = write(tmp_path / "p.toml", f"""
        [[stages]]
        name = "one"
        backbone = "alexnet-small"
        weights = "none"
        dataset = "digits"
        out = "{tmp_path}/one"

        [[stages]]
        name = "two"
        backbone = "alexnet-small"
        weights = "{tmp_path}/missing.weights.h5"
        dataset = "digits"
        out = "{tmp_path}/two"
        """)
    result = zoo("run", str(pipeline))
    assert result.exit_code == 2, result
    assert result.stderr.startswith(f"zoo: error: {pipeline}: stage two: ") and "missing.weights.h5" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.toml"]
