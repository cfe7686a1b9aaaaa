"""Weights files: mirror, cache, plain path, download from a loopback server, checksums, offline."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from weights_http import closed_port, serve, silent_server

from zoo.backbone.build import build_backbone
from zoo.backbone.weights import (
    ChecksumMismatch,
    WeightsUnavailable,
    cache_dir,
    keras_home,
    pull_backbone,
    resolve_weights,
)
from zoo.errors import UsageError
from zoo.plugin.catalog import get_catalog, reset_catalog

VGG_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
RESNET_FILE = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def vgg_reference(tmp_path_factory):
    """A random VGG16 base and its weights in the legacy HDF5 layout Keras Applications files use."""
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    keras.utils.set_random_seed(7)
    model = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg")
    folder = tmp_path_factory.mktemp("vgg")
    path = folder / VGG_FILE
    with h5py.File(path, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, model)
    keras3 = folder / "vgg16_random.weights.h5"
    model.save_weights(keras3)
    images = np.random.default_rng(3).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    from zoo.backbone.preprocessing import preprocess

    expected = model.predict(preprocess(images, "caffe"), verbose=0)
    return {"path": path, "keras3": keras3, "images": images, "expected": expected}


def pin_vgg(url: str | None = None, md5_value: str | None = None, sha256_value: str | None = None) -> None:
    """A registry layer in the working directory re-pinning vgg16's imagenet file."""
    lines = ["[backbones.vgg16.weights.imagenet]"]
    if url:
        lines.append(f'url = "{url}"')
    if md5_value:
        lines.append(f'md5 = "{md5_value}"')
    if sha256_value:
        lines.append(f'sha256 = "{sha256_value}"')
    Path("registry.toml").write_text("\n".join(lines) + "\n")
    reset_catalog()


def cache_entries() -> list[str]:
    folder = cache_dir()
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def assert_loads(vgg_reference, weights="default", source=None):
    built = build_backbone(get_catalog().backbone("vgg16"), weights=weights, input_size=32)
    np.testing.assert_allclose(built.model.predict(vgg_reference["images"], verbose=0), vgg_reference["expected"],
                               rtol=1e-4, atol=1e-4)
    if source:
        assert built.weights.source == source
    return built


def test_mirror_then_cache_then_path(vgg_reference, tmp_path, monkeypatch, zoo):
    original = vgg_reference["path"]
    pin_vgg(url=f"http://127.0.0.1:{closed_port()}/{VGG_FILE}", md5_value=md5(original))
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copy(original, mirror / VGG_FILE)
    monkeypatch.setenv("ZOO_WEIGHTS_DIR", str(mirror))
    built = assert_loads(vgg_reference, source="mirror")
    assert built.weights.path == mirror / VGG_FILE and built.weights.sha256 == sha256(original)
    assert built.weights.name == "imagenet"
    assert cache_entries() == []  # a mirror is used in place

    monkeypatch.delenv("ZOO_WEIGHTS_DIR")
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    cache_dir().mkdir(parents=True)
    shutil.copy(original, cache_dir() / VGG_FILE)
    assert_loads(vgg_reference, source="cache")
    info = json.loads(zoo("info", "vgg16", "--json").stdout)["weights"]["imagenet"]
    assert info["cached"] is True and info["path"] == str(cache_dir() / VGG_FILE)

    os.unlink(cache_dir() / VGG_FILE)
    built = assert_loads(vgg_reference, weights=str(original), source="file")
    assert built.weights.sha256 == sha256(original)
    # a Keras 3 weights file works too, under its own name or under the Keras Applications name
    assert_loads(vgg_reference, weights=str(vgg_reference["keras3"]), source="file")
    renamed = tmp_path / VGG_FILE
    shutil.copy(vgg_reference["keras3"], renamed)
    assert_loads(vgg_reference, weights=str(renamed), source="file")


def test_tampered_mirror_file_is_refused(vgg_reference, tmp_path, monkeypatch):
    pin_vgg(md5_value=md5(vgg_reference["path"]))
    data = bytearray(vgg_reference["path"].read_bytes())
    data[-100] ^= 0xFF
    (tmp_path / VGG_FILE).write_bytes(bytes(data))
    monkeypatch.setenv("ZOO_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(ChecksumMismatch, match=rf"mirror file .*{VGG_FILE} is not the vgg16 'imagenet' weights: "
                                               rf"md5 is [0-9a-f]{{32}}, expected {md5(vgg_reference['path'])}"):
        resolve_weights(get_catalog().backbone("vgg16"))
    assert cache_entries() == []


def test_pinned_sha256_is_checked(vgg_reference, tmp_path, monkeypatch):
    shutil.copy(vgg_reference["path"], tmp_path / VGG_FILE)
    monkeypatch.setenv("ZOO_WEIGHTS_DIR", str(tmp_path))
    pin_vgg(md5_value=md5(vgg_reference["path"]), sha256_value="0" * 64)
    with pytest.raises(ChecksumMismatch, match="sha256 is [0-9a-f]{64}, expected 0{64}"):
        resolve_weights(get_catalog().backbone("vgg16"))
    pin_vgg(md5_value=md5(vgg_reference["path"]), sha256_value=sha256(vgg_reference["path"]))
    assert resolve_weights(get_catalog().backbone("vgg16")).sha256 == sha256(vgg_reference["path"])


def test_pull_downloads_from_loopback_server(vgg_reference, tmp_path, zoo):
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(vgg_reference["path"], served / VGG_FILE)
    cache_dir().mkdir(parents=True)
    (cache_dir() / VGG_FILE).write_bytes(b"a truncated earlier download")  # damaged: replaced, not used
    with serve(served) as base:
        url = f"{base}/{VGG_FILE}"
        pin_vgg(url=url, md5_value=md5(vgg_reference["path"]))
        result = zoo("pull", "vgg16", "--json")
    assert result.exit_code == 0, result
    fetched = json.loads(result.stdout)  # the progress bar went to stderr, stdout is clean JSON
    assert "Downloading data from" in result.stderr
    final = cache_dir() / VGG_FILE
    assert fetched["path"] == str(final) and fetched["file"] == VGG_FILE and fetched["backbone"] == "vgg16"
    assert fetched["sha256"] == sha256(vgg_reference["path"]) == sha256(final) and fetched["source"] == "download"
    assert cache_entries() == [VGG_FILE]  # no temporary leftovers

    # the server is gone: from now on everything is served by the cache, zoo's and plain Keras'
    # (Keras reads KERAS_HOME once, at import, so name this test's home explicitly)
    import keras

    found = keras.utils.get_file(VGG_FILE, url, file_hash=md5(final), cache_subdir="models",
                                 cache_dir=str(keras_home()))
    assert found == str(final)
    assert_loads(vgg_reference, source="cache")
    again = zoo("pull", "vgg16", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["source"] == "cache"


def test_tampered_download_is_refused_and_nothing_cached(vgg_reference, tmp_path, zoo):
    served = tmp_path / "served"
    served.mkdir()
    data = bytearray(vgg_reference["path"].read_bytes())
    data[len(data) // 2] ^= 0x01
    (served / VGG_FILE).write_bytes(bytes(data))
    with serve(served) as base:
        pin_vgg(url=f"{base}/{VGG_FILE}", md5_value=md5(vgg_reference["path"]))
        result = zoo("pull", "vgg16")
    assert result.exit_code == 1, result
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("zoo: error:")]
    assert len(error_lines) == 1 and "hash" in error_lines[0] and "nothing was cached" in error_lines[0]
    assert "Traceback" not in result.stderr
    assert cache_entries() == []


def test_offline_with_nothing_cached_is_one_clear_line(zoo, monkeypatch):
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    result = zoo("pull", "resnet50")
    assert result.exit_code == 1, result
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("zoo: error: weights 'imagenet' of backbone 'resnet50' are needed and ZOO_OFFLINE forbids")
    assert RESNET_FILE in line and "ZOO_WEIGHTS_DIR" in line and str(cache_dir()) in line
    assert "`zoo pull resnet50` on a connected machine" in line
    assert cache_entries() == []


def test_damaged_cache_file_offline_is_named(vgg_reference, monkeypatch):
    pin_vgg(md5_value=md5(vgg_reference["path"]))
    cache_dir().mkdir(parents=True)
    (cache_dir() / VGG_FILE).write_bytes(b"half a file")
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    with pytest.raises(WeightsUnavailable, match=rf"^the cached {VGG_FILE} is damaged \(md5 is [0-9a-f]{{32}}, "
                                                 rf"expected [0-9a-f]{{32}}\); weights 'imagenet' of backbone 'vgg16' "
                                                 rf"are needed and ZOO_OFFLINE forbids downloading"):
        resolve_weights(get_catalog().backbone("vgg16"))


def test_unreachable_server_fails_fast(vgg_reference):
    pin_vgg(url=f"http://127.0.0.1:{closed_port()}/{VGG_FILE}", md5_value=md5(vgg_reference["path"]))
    start = time.monotonic()
    with pytest.raises(WeightsUnavailable, match=rf"127.0.0.1 cannot be reached .*put the file {VGG_FILE}"):
        pull_backbone(get_catalog().backbone("vgg16"))
    assert time.monotonic() - start < 5
    assert cache_entries() == []


def one_line(result, exit_code: int) -> str:
    """The command failed with ``exit_code`` and said why in exactly one line, no traceback."""
    assert result.exit_code == exit_code, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("zoo: error: ") and "Traceback" not in result.stderr, result
    return lines[0]


def test_stalled_download_gives_up_after_the_read_timeout(vgg_reference, monkeypatch, zoo):
    """A server that takes the connection and then says nothing: one line after ZOO_READ_TIMEOUT, nothing cached."""
    monkeypatch.setenv("ZOO_READ_TIMEOUT", "1.5")
    with silent_server() as base:
        pin_vgg(url=f"{base}/{VGG_FILE}", md5_value=md5(vgg_reference["path"]))
        start = time.monotonic()
        result = zoo("pull", "vgg16")
        elapsed = time.monotonic() - start
    assert result.exit_code == 1 and "Traceback" not in result.stderr, result
    [line] = [line for line in result.stderr.splitlines() if line.startswith("zoo: error: ")]  # after Keras' notice
    assert "127.0.0.1 did not answer within 1.5 s (ZOO_READ_TIMEOUT) while downloading it; nothing was cached" in line
    assert 1.4 < elapsed < 30, elapsed
    assert cache_entries() == []  # no partial download left beside the cache either


@pytest.mark.parametrize("variable, value", [("ZOO_READ_TIMEOUT", "abc"), ("ZOO_READ_TIMEOUT", "0"),
                                             ("ZOO_CONNECT_TIMEOUT", "-1"), ("ZOO_CONNECT_TIMEOUT", "nan"),
                                             ("ZOO_CONNECT_TIMEOUT", "inf")])
@pytest.mark.parametrize("command", [("pull", "vgg16"), ("pull", "someone/adapter"), ("push", "run", "someone/adapter")])
def test_bad_timeouts_are_usage_errors(monkeypatch, zoo, variable, value, command):
    monkeypatch.setenv(variable, value)
    line = one_line(zoo(*command), 2)
    assert line == f"zoo: error: {variable} must be a number of seconds greater than 0, got {value!r}"
    assert cache_entries() == []


def test_timeouts_are_checked_where_a_download_starts(vgg_reference, monkeypatch):
    """Library use, without the CLI's up-front check: the same error when weights must be downloaded."""
    pin_vgg(url=f"http://127.0.0.1:{closed_port()}/{VGG_FILE}", md5_value=md5(vgg_reference["path"]))
    monkeypatch.setenv("ZOO_CONNECT_TIMEOUT", "soon")
    with pytest.raises(UsageError, match="ZOO_CONNECT_TIMEOUT must be a number of seconds greater than 0, got 'soon'"):
        resolve_weights(get_catalog().backbone("vgg16"))


def test_bad_weights_files_are_usage_errors(tmp_path, zoo):
    """--weights FILE: missing, a folder, a wrong kind of file or not what its name says: exit 2, the file named."""
    (tmp_path / "notes.txt").write_text("not weights")
    (tmp_path / "fake.h5").write_bytes(b"not an HDF5 file at all")
    (tmp_path / "fake.keras").write_bytes(b"not a zip archive")
    (tmp_path / "folder.h5").mkdir()
    cases = {
        "missing.h5": "weights file '{}' not found",
        "notes.txt": "weights file '{}' is not a Keras weights file: its name must end in .h5, .hdf5, .keras, "
                     ".weights.h5",
        "fake.h5": "weights file '{}' is not an HDF5 file; give a weights file saved by Keras",
        "fake.keras": "weights file '{}' is not a .keras (zip) archive; give a weights file saved by Keras",
        "folder.h5": "weights path '{}' is not a file",
    }
    for name, message in cases.items():
        path = str(tmp_path / name)
        line = one_line(zoo("pull", "vgg16", "--weights", path), 2)
        assert line.startswith("zoo: error: " + message.format(path)), line
    trained = zoo("train", "--backbone", "alexnet-small", "--dataset", "digits", "--weights", str(tmp_path / "fake.h5"),
                  "--out", str(tmp_path / "run"))
    assert one_line(trained, 2).startswith(f"zoo: error: weights file '{tmp_path / 'fake.h5'}' is not an HDF5 file")
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_weights_file_is_a_usage_error(tmp_path, zoo):
    path = tmp_path / "locked.weights.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n")
    path.chmod(0)
    line = one_line(zoo("pull", "vgg16", "--weights", str(path)), 2)
    assert line == f"zoo: error: weights file '{path}' cannot be read (Permission denied)"


def imported_tensorflow(stderr: str) -> bool:
    """Whether ``python -X importtime`` reports an import of TensorFlow or Keras."""
    return bool(re.search(r"\|\s+(tensorflow|keras)(\.\S+)?\s*$", stderr, flags=re.M))


def test_pull_imports_tensorflow_only_to_download(tmp_path, monkeypatch):
    """Weights already local: `zoo pull` answers without loading TensorFlow (it takes seconds to import)."""
    Path("registry.toml").write_text(
        '[backbones.tiny]\nsource = "keras"\nmodel = "MobileNetV2"\ninput_size = 32\nfeature_dim = 1280\n'
        '[backbones.tiny.weights.local]\nfile = "tiny.weights.h5"\nurl = "http://127.0.0.1:1/tiny.weights.h5"\n')
    cache_dir().mkdir(parents=True)
    (cache_dir() / "tiny.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n")
    env = {**os.environ, "ZOO_OFFLINE": "1"}

    def pull(*args):
        return subprocess.run([sys.executable, "-X", "importtime", "-m", "zoo", "pull", *args], capture_output=True,
                              text=True, env=env, timeout=300)

    cached = pull("tiny", "--weights", "local", "--json")
    assert cached.returncode == 0, cached.stderr[-3000:]
    assert json.loads(cached.stdout)["source"] == "cache"
    assert not imported_tensorflow(cached.stderr)
    # the probe does see TensorFlow when a command imports it
    loads = subprocess.run([sys.executable, "-X", "importtime", "-c", "import keras"], capture_output=True, text=True,
                           env=env, timeout=300)
    assert imported_tensorflow(loads.stderr)


def test_weights_choices():
    catalog = get_catalog()
    vgg = catalog.backbone("vgg16")
    assert resolve_weights(vgg, "none").source == "random"
    with pytest.raises(UsageError, match="backbone 'vgg16' has no weights named 'imagnet'; use none, imagenet or a file path"):
        resolve_weights(vgg, "imagnet")
    with pytest.raises(UsageError, match="weights file 'missing/w.h5' not found"):
        resolve_weights(vgg, "missing/w.h5")
    with pytest.raises(UsageError, match="backbone 'alexnet' has no pretrained weights to pull"):
        pull_backbone(catalog.backbone("alexnet"))
    assert resolve_weights(catalog.backbone("alexnet")).source == "random"


@pytest.mark.live
@pytest.mark.skipif(not os.environ.get("ZOO_LIVE_TESTS"), reason="set ZOO_LIVE_TESTS=1 to download from Google")
def test_live_pull_of_real_imagenet_weights(zoo):
    result = zoo("pull", "vgg16", "--json")
    assert result.exit_code == 0, result
    fetched = json.loads(result.stdout)
    assert md5(Path(fetched["path"])) == "6d6bbae143d832006294945121d1f1fc"
