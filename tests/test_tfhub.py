"""TF Hub backbones on SavedModels exported here, the way TF Hub publishes them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from weights_http import serve, silent_server
from zoo_strategies.freezing import resolve_unfreeze

from zoo.backbone.build import build_backbone, stage_layers
from zoo.errors import UsageError, ZooError
from zoo.plugin.catalog import Catalog

FEATURES = 5


def export_hub_style(folder: Path, seed: int = 0) -> Path:
    """A Keras-free TF2 SavedModel like TF Hub's: ``__call__(images, training)``, ``variables`` lists.

    In training mode it centres features on the batch mean and updates a moving mean
    (like BatchNorm); in inference mode it uses the moving mean. So whether
    ``training`` reaches the module is visible from outside.
    """
    import tensorflow as tf

    class HubStyle(tf.Module):
        variables = None  # shadow tf.Module's properties: saved as plain attributes, as TF Hub does
        trainable_variables = None

        def __init__(self):
            super().__init__()
            rng = np.random.default_rng(seed)
            self.kernel = tf.Variable(rng.normal(size=(3, 3, 3, 8)).astype("float32") * 0.5, name="conv/kernel")
            self.bias = tf.Variable(np.full(8, 0.1, "float32"), name="conv/bias")
            self.proj = tf.Variable(rng.normal(size=(8, FEATURES)).astype("float32"), name="proj/kernel")
            self.moving_mean = tf.Variable(tf.zeros(8), trainable=False, name="bn/moving_mean")
            self.variables = [self.kernel, self.bias, self.proj, self.moving_mean]
            self.trainable_variables = [self.kernel, self.bias, self.proj]

        @tf.function
        def __call__(self, images, training=False):
            hidden = tf.nn.relu(tf.nn.conv2d(images, self.kernel, 1, "SAME") + self.bias)
            pooled = tf.reduce_mean(hidden, axis=[1, 2])
            if training:
                batch_mean = tf.reduce_mean(pooled, axis=0)
                self.moving_mean.assign(0.5 * self.moving_mean + 0.5 * batch_mean)
                centred = pooled - batch_mean
            else:
                centred = pooled - self.moving_mean
            return tf.matmul(centred, self.proj)

    module = HubStyle()
    for training in (True, False):
        module.__call__.get_concrete_function(tf.TensorSpec([None, None, None, 3], tf.float32), training=training)
    tf.saved_model.save(module, str(folder))
    return folder


def export_plain(folder: Path) -> Path:
    """A bare tf.Module: no variables lists (the loader must walk it), no training flag, fixed 32x32."""
    import tensorflow as tf

    class Plain(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(np.linspace(-1, 1, 12, dtype="float32").reshape(3, 4), name="dense/w")
            self.inner = tf.Module()
            self.inner.b = tf.Variable(np.full(4, 0.5, "float32"), name="dense/b")

        @tf.function(input_signature=[tf.TensorSpec([None, 32, 32, 3], tf.float32)])
        def __call__(self, images):
            return tf.matmul(tf.reduce_mean(images, axis=[1, 2]), self.w) + self.inner.b

    tf.saved_model.save(Plain(), str(folder))
    return folder


@pytest.fixture(scope="module")
def modules(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    hub_style = export_hub_style(root / "hub_style")
    archive = root / "hub_style.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(hub_style, arcname="resnet_like")  # archives often nest the SavedModel one level down
    return {"hub_style": hub_style, "plain": export_plain(root / "plain"), "archive": archive}


def images(n=4, size=32, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype("float32")


def build(handle: str, **kwargs):
    catalog = Catalog()
    return build_backbone(catalog.backbone(f"tfhub:{handle}"), catalog=catalog, **kwargs)


def hub_layer(built):
    return built.base.get_layer("hub_module")


def test_adhoc_spec_is_cheap_and_feature_dim_comes_from_the_build(modules, zoo):
    code = (
        "import sys, json\n"
        "from zoo.plugin.catalog import Catalog\n"
        f"spec = Catalog().backbone('tfhub:{modules['hub_style']}')\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'lookup imported TensorFlow'\n"
        "print(json.dumps([spec.name, spec.feature_dim, spec.default_weights, spec.preprocessing]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [f"tfhub:{modules['hub_style']}", 0, "builtin", "unit"]
    info = json.loads(zoo("info", f"tfhub:{modules['hub_style']}", "--json").stdout)
    assert info["feature_dim"] is None and info["weights"]["builtin"]["source"] == str(modules["hub_style"])

    built = build(str(modules["hub_style"]), input_size=32)
    assert built.spec.feature_dim == FEATURES and built.model.output_shape == (None, FEATURES)
    assert built.weights.source == "builtin"
    # preprocessing "unit" happens in the model, in front of the module
    module = hub_layer(built).module
    np.testing.assert_allclose(built.model.predict(images(), verbose=0),
                               module(images() / 255.0, training=False).numpy(), rtol=1e-5, atol=1e-5)
    with pytest.raises(UsageError, match="no such folder or file"):
        Catalog().backbone("tfhub:/no/such/module")
    with pytest.raises(UsageError, match="carries its own weights"):
        build(str(modules["hub_style"]), weights="none")


def test_file_url_and_tar_gz_handles(modules):
    direct = build(str(modules["hub_style"]), input_size=32).model.predict(images(), verbose=0)
    by_url = build(modules["hub_style"].as_uri(), input_size=32)
    assert by_url.spec.name == f"tfhub:{modules['hub_style']}"  # file:// normalised to the path
    np.testing.assert_allclose(by_url.model.predict(images(), verbose=0), direct, rtol=1e-6)

    from_archive = build(str(modules["archive"]), input_size=32)
    np.testing.assert_allclose(from_archive.model.predict(images(), verbose=0), direct, rtol=1e-6)
    cache = Path(os.environ["TFHUB_CACHE_DIR"])
    unpacked = [p for p in cache.iterdir()]
    assert len(unpacked) == 1 and unpacked[0].name.startswith("zoo-archive-")
    stamp = unpacked[0].stat().st_mtime_ns
    build(str(modules["archive"]), input_size=32)  # second time: the unpacked copy is reused
    assert [p for p in cache.iterdir()] == unpacked and unpacked[0].stat().st_mtime_ns == stamp


def test_remote_handle_downloads_into_hub_cache_then_works_offline(modules, zoo, monkeypatch):
    with serve(modules["archive"].parent) as base:
        handle = f"{base}/{modules['archive'].name}"
        pulled = zoo("pull", f"tfhub:{handle}", "--json")
    assert pulled.exit_code == 0, pulled
    path = Path(json.loads(pulled.stdout)["path"])
    assert path.is_relative_to(Path(os.environ["TFHUB_CACHE_DIR"])) and (path / "saved_model.pb").is_file()

    monkeypatch.setenv("ZOO_OFFLINE", "1")  # and the server is gone too
    built = build(handle, input_size=32)
    assert built.spec.feature_dim == FEATURES
    with pytest.raises(ZooError, match=r"TF Hub module http://127.0.0.1:1/other.tar.gz is not in the cache .* "
                                       r"ZOO_OFFLINE forbids downloading it"):
        build("http://127.0.0.1:1/other.tar.gz", input_size=32)
    offline = zoo("pull", "tfhub-resnet50")
    assert offline.exit_code == 1 and len(offline.stderr.strip().splitlines()) == 1
    assert "https://tfhub.dev/google/imagenet/resnet_v1_50/feature_vector/5 is not in the cache" in offline.stderr


def test_trains_freezes_saves_and_reloads(modules, tmp_path):
    import keras
    import tensorflow as tf

    built = build(str(modules["hub_style"]), input_size=32)
    layer = hub_layer(built)
    module = layer.module
    assert [v.name for v in layer.trainable_weights] == ["hub_module__conv__kernel", "hub_module__conv__bias",
                                                          "hub_module__proj__kernel"]
    assert [v.name for v in layer.non_trainable_weights] == ["hub_module__bn__moving_mean"]
    assert stage_layers(built, resolve_unfreeze(built.spec, "all")) == [layer]

    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, keras.layers.Dense(3)(built.model(inputs)))
    x, y = images(8, seed=1), np.arange(8) % 3

    with tf.GradientTape() as tape:
        loss = keras.losses.sparse_categorical_crossentropy(y, model(x, training=True), from_logits=True)
    grads = tape.gradient(loss, layer.trainable_weights)
    assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)

    def snapshot():
        return {v.name: v.numpy().copy() for v in module.variables}

    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = snapshot()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    after = snapshot()
    changed = {name for name in before if not np.array_equal(before[name], after[name])}
    assert changed == set(before)  # kernels trained, and training=True reached the module (moving mean moved)

    layer.pass_training = False  # fine-tune the weights, keep the module's statistics in inference mode
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    tuned = snapshot()
    assert {name for name in after if not np.array_equal(after[name], tuned[name])} == set(after) - {
        "hub_module/bn/moving_mean:0"}
    after = tuned

    layer.trainable = False
    assert layer.trainable_weights == [] and built.base.trainable_weights == []
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    frozen = snapshot()
    assert all(np.array_equal(after[name], frozen[name]) for name in after)  # inference mode: moving mean kept

    expected = model.predict(x, verbose=0)
    path = tmp_path / "with_hub.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)  # safe_mode on
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)

    np.save(tmp_path / "x.npy", x)
    code = (
        "import sys, numpy as np, keras, zoo_tfhub\n"
        f"model = keras.models.load_model({str(path)!r}, safe_mode=True)\n"
        f"np.save({str(tmp_path / 'y.npy')!r}, model.predict(np.load({str(tmp_path / 'x.npy')!r}), verbose=0))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-5, atol=1e-6)


def test_module_without_variable_lists_is_walked(modules):
    import keras
    import tensorflow as tf

    built = build(str(modules["plain"]), input_size=32)
    layer = hub_layer(built)
    assert sorted(v.name for v in layer.trainable_weights) == ["hub_module__dense__b", "hub_module__dense__w"]
    model = keras.Sequential([built.model, keras.layers.Dense(2)])
    with tf.GradientTape() as tape:
        out = model(images(2), training=True)
        loss = tf.reduce_sum(out * out)
    grads = tape.gradient(loss, layer.trainable_weights)
    assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)
    with pytest.raises(UsageError, match=r"takes 32x32 images only, not 48"):
        build(str(modules["plain"]), input_size=48)


@pytest.mark.live
@pytest.mark.skipif(not os.environ.get("ZOO_LIVE_TESTS"), reason="set ZOO_LIVE_TESTS=1 to download from TF Hub")
def test_live_tfhub_resnet50():
    catalog = Catalog()
    built = build_backbone(catalog.backbone("tfhub-resnet50"), input_size=64, catalog=catalog)
    assert built.model.output_shape == (None, 2048)


def test_module_with_only_a_serving_signature(tmp_path):
    """SavedModels exported for serving: called through their signature, one output picked by key."""
    import keras
    import tensorflow as tf
    from zoo_tfhub.layer import HubModule

    class Served(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(np.eye(3, dtype="float32"), name="w")

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="pixels")])
        def embed(self, pixels):
            features = tf.matmul(tf.reduce_mean(pixels, axis=[1, 2]), self.w)
            return {"features": features, "logits": features * 2.0}

    module = Served()
    tf.saved_model.save(module, str(tmp_path / "served"), signatures={"serving_default": module.embed})

    x = images(2)
    with pytest.raises(UsageError, match=r"returns several outputs \(features, logits\); choose one with the option "
                                         r"output_key"):
        HubModule(str(tmp_path / "served"))(keras.Input((32, 32, 3)))
    layer = HubModule(str(tmp_path / "served"), output_key="logits")
    model = keras.Model(inputs := keras.Input((32, 32, 3)), layer(inputs))
    np.testing.assert_allclose(model.predict(x, verbose=0), 2.0 * x.mean(axis=(1, 2)), rtol=1e-5)
    assert len(layer.trainable_weights) == 1


def test_bad_archives_and_gs_handles_are_one_line_usage_errors(tmp_path, zoo):
    good = tmp_path / "good.tar.gz"
    module = tmp_path / "module"
    module.mkdir()
    (module / "saved_model.pb").write_bytes(b"\0" * 4096)
    (module / "variables.bin").write_bytes(os.urandom(200_000))  # incompressible, so cutting it truncates the data
    with tarfile.open(good, "w:gz") as tar:
        tar.add(module, arcname="module")
    data = good.read_bytes()
    (tmp_path / "truncated.tar.gz").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.tar.gz").write_text("this is not an archive\n" * 10)
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0xFF
    (tmp_path / "damaged.tar.gz").write_bytes(bytes(damaged))
    expected = {
        "truncated.tar.gz": "not a readable archive (it ends early, truncated)",
        "text.tar.gz": "not a readable archive (not a tar, tar.gz, tar.bz2 or tar.xz file)",
        "damaged.tar.gz": "not a readable archive (",
    }
    for name, reason in expected.items():
        path = tmp_path / name
        result = zoo("pull", f"tfhub:{path}")
        assert result.exit_code == 2, result
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"zoo: error: TF Hub handle {path}: {reason}"), result
        assert lines[0].endswith("; download it again or give the unpacked SavedModel folder"), result
    cache = Path(os.environ["TFHUB_CACHE_DIR"])
    assert not cache.exists() or list(cache.iterdir()) == []  # nothing half-unpacked left behind

    result = zoo("pull", "tfhub:gs://bucket/models/resnet")
    assert result.exit_code == 2 and result.stderr == (
        "zoo: error: TF Hub handle gs://bucket/models/resnet: zoo does not read Google Cloud Storage; copy the module "
        "(e.g. `gsutil cp -r gs://bucket/models/resnet .`) and give its local folder\n"), result


UNPACK = """
import json, sys, time
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))  # both processes start unpacking at the same moment
from zoo_tfhub.handles import resolve
print(json.dumps(str(resolve(sys.argv[1]))))
"""


def test_two_processes_unpacking_one_archive_both_succeed(modules, tmp_path):
    """The second to finish finds the first one's folder in place: it uses it, and leaves nothing behind."""
    import time

    archive = tmp_path / "big_module.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(modules["hub_style"], arcname="module")
        padding = tmp_path / "padding.bin"  # long enough to unpack that the two overlap
        padding.write_bytes(os.urandom(40_000_000))
        tar.add(padding, arcname="module/assets/padding.bin")
    start = time.time() + 3
    runs = [subprocess.Popen([sys.executable, "-c", UNPACK, str(archive), str(start)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(run.wait(timeout=300), *run.communicate()) for run in runs]
    assert [code for code, _, _ in results] == [0, 0], results
    paths = {json.loads(out) for _, out, _ in results}
    cache = Path(os.environ["TFHUB_CACHE_DIR"])
    assert len(paths) == 1 and Path(paths.pop()) == next(cache.iterdir()) / "module"
    assert [p.name for p in cache.iterdir()] == [next(cache.iterdir()).name]  # one folder, no .partial leftovers
    built = build(str(archive), input_size=32)  # and it is the module
    assert built.spec.feature_dim == FEATURES


def test_a_silent_module_server_fails_within_the_read_timeout(zoo, monkeypatch):
    import time

    monkeypatch.setenv("ZOO_READ_TIMEOUT", "1")
    with silent_server() as base:
        handle = f"{base}/module.tar.gz"
        start = time.monotonic()
        result = zoo("pull", f"tfhub:{handle}")
        elapsed = time.monotonic() - start
    assert result.exit_code == 1, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(
        f"zoo: error: TF Hub module {handle} is not cached and 127.0.0.1 did not answer within 1 s (ZOO_READ_TIMEOUT); "
        "download it on a connected machine"), result
    assert elapsed < 30, elapsed
    cache = Path(os.environ["TFHUB_CACHE_DIR"])
    assert not cache.exists() or list(cache.iterdir()) == []  # no partial download, no stale lock
