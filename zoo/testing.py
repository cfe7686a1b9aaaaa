"""A test kit for plugin authors: check a plugin against zoo's contract from its own test suite.

Each check runs zoo's real code (the plugin host, the backbone builder, a real training
run on a tiny generated dataset) and raises ``AssertionError`` with a message that names
what broke, so a plain pytest test is one line::

    from zoo import testing

    def test_plugin_loads_lazily():
        testing.check_plugin("example")            # the entry-point name

    def test_backbone_builds():
        testing.check_backbone("mobilenetv2")      # random weights, smallest size

    def test_strategy_trains_and_reloads(tmp_path):
        testing.check_strategy("nearest-centroid", tmp_path, backbone="alexnet-small")

The plugin must be installed (``pip install -e .``): zoo finds it through its entry point,
exactly as users' zoo will.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

SHAPES = ("circle", "square", "triangle")
COLOURS = {"circle": (220, 40, 40), "square": (40, 180, 40), "triangle": (40, 60, 220)}

_LOAD_ONE_PLUGIN = """
import json, os, sys, time
os.environ["ZOO_PLUGINS"] = {name!r}
started = time.perf_counter()
from zoo.cli.main import build_cli
from zoo.plugin.host import get_host
build_cli()  # the plugin's commands too, as `zoo --help` would
records = [record.to_json() for record in get_host().report()]
print(json.dumps({{"records": records, "seconds": time.perf_counter() - started,
                  "heavy": sorted(m for m in ("tensorflow", "keras", "torch", "jax") if m in sys.modules)}}))
"""


def check_plugin(name: str, *, max_seconds: float = 2.0) -> dict[str, list[str]]:
    """Load the installed plugin ``name`` (its entry-point name) alone, as ``zoo --help`` does.

    Checks that it is found, imports, adds its commands and answers every hook without error, returns only
    spec records, imports no TensorFlow, Keras, PyTorch or JAX while doing so, and takes
    under ``max_seconds``; then that every spec it returns resolves (backbones name a known
    source, trainers and loaders import). Returns what it provides, as ``zoo plugins`` shows it.
    """
    child = subprocess.run([sys.executable, "-c", _LOAD_ONE_PLUGIN.format(name=name)], capture_output=True,
                           text=True, timeout=120)
    assert child.returncode == 0, f"loading plugin {name!r} crashed zoo's plugin host:\n{child.stderr[-2000:]}"
    report = json.loads(child.stdout.strip().splitlines()[-1])
    records = {record["name"]: record for record in report["records"]}
    assert name in records, (f"no plugin {name!r} in the 'zoo' entry-point group (found: {sorted(records) or 'none'});"
                             " is it installed, and is the entry point in [project.entry-points.zoo]?")
    record = records[name]
    assert record["status"] == "ok", f"plugin {name!r} is quarantined: {record['error']}"
    assert not report["heavy"], (f"plugin {name!r} imports {', '.join(report['heavy'])} when loaded; import it inside "
                                 "the functions that build or run models, so `zoo list` stays fast")
    assert report["seconds"] < max_seconds, (f"loading plugin {name!r} took {report['seconds']:.2f} s "
                                             f"(at most {max_seconds} s): move slow imports into functions")
    _check_specs_resolve(name)
    return record["provides"]


def _check_specs_resolve(name: str) -> None:
    from zoo.plugin.catalog import Catalog
    from zoo.plugin.host import PluginHost
    from zoo.plugin.specs import load_object

    catalog = Catalog(host=PluginHost())
    for spec in catalog.backbones.values():
        if spec.plugin == name:
            catalog.backbone(spec.name)  # its source exists
            assert spec.feature_dim > 0 and spec.input_size > 0, f"backbone {spec.name!r}: sizes must be positive"
    for kind, specs, attribute in (("strategy", catalog.strategies, "trainer"), ("dataset", catalog.datasets, "loader"),
                                   ("backbone source", catalog.backbone_sources, "builder"),
                                   ("hub", catalog.hubs, "client")):
        for spec in specs.values():
            if spec.plugin != name:
                continue
            dotted = getattr(spec, attribute)
            try:
                target = load_object(dotted)
            except (ImportError, AttributeError) as exc:
                raise AssertionError(f"{kind} {spec.name!r}: its {attribute} {dotted!r} does not import: {exc}") from exc
            assert callable(target), f"{kind} {spec.name!r}: its {attribute} {dotted!r} is not callable"
            for option in getattr(spec, "options", ()):
                _check_option(kind, spec.name, option)


def _check_option(kind: str, owner: str, option: Any) -> None:
    from zoo.train.config import check_bounds, coerce_option

    where = f"{kind} {owner!r}, option {option.name!r}"
    assert option.name.isidentifier(), f"{where}: the name must be a Python identifier (it becomes a TOML key)"
    if option.default is not None:
        coerce_option(option, option.default, where)
        check_bounds(option, option.default, where)


def check_backbone(name: str, *, input_size: int | None = None, weights: str = "none"):
    """Build backbone ``name`` (random weights by default, at its smallest input size) and run it.

    Checks that two raw RGB images come out as two finite ``feature_dim`` vectors and that
    every named stage covers at least one layer (so ``--unfreeze`` can use it). Returns the
    :class:`zoo.api.BuiltBackbone`.
    """
    import numpy as np

    from zoo.backbone.build import build_backbone, stage_layers
    from zoo.errors import ZooError
    from zoo.plugin.catalog import Catalog

    spec = Catalog().backbone(name)
    size = input_size or spec.smallest_input
    try:
        built = build_backbone(spec, weights=weights, input_size=size)
    except ZooError as error:
        raise AssertionError(f"backbone {name!r} does not build at {size}px: {error}") from error
    images = np.random.default_rng(0).uniform(0, 255, (2, size, size, spec.channels)).astype("float32")
    features = np.asarray(built.model.predict(images, verbose=0))
    assert features.shape == (2, built.feature_dim), (f"backbone {name!r} at {size}px gives features of shape "
                                                      f"{features.shape[1:]}, its spec declares ({spec.feature_dim},)")
    assert np.isfinite(features).all(), f"backbone {name!r} gives non-finite features on random images"
    for stage in spec.stage_names:
        assert stage_layers(built, [stage]), f"backbone {name!r}: stage {stage!r} matches no layer of the model"
    return built


def check_strategy(name: str, workdir: str | Path, *, backbone: str, image_size: int = 32,
                   epochs: int = 2, options: dict[str, Any] | None = None, min_accuracy: float | None = None):
    """Train strategy ``name`` on ``backbone`` (random weights) for real on a tiny generated dataset
    and check its run folder. A small backbone keeps it quick: the built-in ``alexnet-small``
    trains in seconds at 32 px.

    The run (``workdir/run``) must verify (every recorded checksum), reload through
    :func:`zoo.api.open_run`, and score exactly what training scored on the same held-out
    images. A strategy that takes a target domain gets one (the same shapes on brighter
    backgrounds). ``min_accuracy``, when given, is asserted on the held-out split (chance
    is 1/3). Returns the stage's result (``.out``, ``.metrics``, ``.config``).
    """
    from zoo.plugin.catalog import Catalog
    from zoo.run.folder import read_run_folder
    from zoo.run.inference import evaluate_run
    from zoo.run.load import open_run
    from zoo.train.config import StageConfig
    from zoo.train.stage import run_stage

    workdir = Path(workdir)
    spec = Catalog().strategy(name)
    data = make_image_folder(workdir / "source", per_class=16, size=image_size, seed=0)
    target = make_image_folder(workdir / "target", per_class=16, size=image_size, seed=1,
                               background=(90, 200)) if spec.needs_target else None
    config = StageConfig(name=f"check-{name}", backbone=backbone, weights="none", dataset=f"folder:{data}",
                         target=f"folder:{target}" if target else None, image_size=image_size, epochs=epochs,
                         batch_size=8, strategy=name, strategy_options=dict(options or {}), out=str(workdir / "run"),
                         val_split=0.25, seed=0)
    result = run_stage(config, verbose=0, log=lambda message: None)
    run = read_run_folder(result.out)
    assert run.class_names == list(SHAPES), f"the run records classes {run.class_names}, the data has {list(SHAPES)}"
    assert len(run.config["files"]) >= 2, "the run folder records no files"
    scored = evaluate_run(open_run(str(result.out)))
    trained = result.metrics["accuracy"]
    assert abs(scored["accuracy"] - trained) < 1e-6, (f"strategy {name!r}: the reloaded run scores "
                                                     f"{scored['accuracy']:.4f}, training scored {trained:.4f}")
    if min_accuracy is not None:
        assert trained >= min_accuracy, f"strategy {name!r} reached accuracy {trained:.3f} < {min_accuracy}"
    return result


def shape_image(kind: str, size: int, rng, background: tuple[int, int] = (0, 90)):
    """One learnable image: a coloured circle, square or triangle on a noisy background."""
    import numpy as np
    from PIL import Image, ImageDraw

    image = Image.fromarray(rng.integers(*background, (size, size, 3), dtype=np.uint8))
    draw = ImageDraw.Draw(image)
    r = int(size * rng.uniform(0.25, 0.4))
    cx, cy = (int(size / 2 + rng.integers(-size // 8, size // 8 + 1)) for _ in range(2))
    colour = tuple(int(np.clip(c + rng.integers(-30, 31), 0, 255)) for c in COLOURS[kind])
    if kind == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif kind == "square":
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=colour)
    else:
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    return image


def make_image_folder(root: str | Path, *, per_class: int = 30, size: int = 40, seed: int = 0, fmt: str = "png",
                      background: tuple[int, int] = (0, 90)) -> Path:
    """A ``folder:`` dataset of three classes (circle, square, triangle), ``per_class`` images each."""
    import numpy as np

    root = Path(root)
    rng = np.random.default_rng(seed)
    for kind in SHAPES:
        folder = root / kind
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            shape_image(kind, size, rng, background).save(folder / f"{kind}_{i:03d}.{fmt}")
    return root
