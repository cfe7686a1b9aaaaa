"""Real distributions with ``zoo`` entry points, written to a folder put on sys.path.

importlib.metadata finds a ``NAME-VERSION.dist-info`` folder on sys.path exactly as it
finds an installed package, so these plugins are discovered through the same entry-point
machinery as pip-installed ones.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path


def write_plugin(site: Path, dist: str, module: str, source: str, entry_name: str | None = None,
                 version: str = "0.1.0") -> None:
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[zoo]\n{entry_name or dist} = {module}\n")


def activate(site: Path, monkeypatch) -> None:
    """Put ``site`` on sys.path (and PYTHONPATH, for child processes)."""
    monkeypatch.syspath_prepend(str(site))
    import os

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    importlib.invalidate_caches()
    for name in list(sys.modules):
        if name.startswith("zt_"):
            del sys.modules[name]


GOOD = '''
    from zoo.api import hookimpl
    from zoo.api import BackboneSpec, DatasetSpec

    @hookimpl
    def zoo_backbones():
        return [BackboneSpec(name="tinynet", source="keras", model="MobileNetV3Small",
                             input_size=96, feature_dim=576, preprocessing="none",
                             description="a test backbone")]

    @hookimpl
    def zoo_commands(cli):
        import click

        @cli.command("hello-test")
        @click.argument("who")
        def hello(who):
            """Say hello (a command added by a test plugin)."""
            click.echo(f"hello {who}")
'''

BROKEN_IMPORT = '''
    raise RuntimeError("this plugin is broken on purpose")
'''

BROKEN_HOOK = '''
    from zoo.api import hookimpl

    @hookimpl
    def zoo_strategies():
        return 1 / 0
'''

CLASHING = '''
    from zoo.api import hookimpl
    from zoo.api import BackboneSpec

    @hookimpl
    def zoo_backbones():
        return [BackboneSpec(name="tinynet", source="keras", model="MobileNetV3Small",
                             input_size=96, feature_dim=576)]
'''

MALFORMED = '''
    from zoo.api import hookimpl

    @hookimpl
    def zoo_datasets():
        return [{"name": "not-a-spec"}]
'''

MISSPELT_HOOK = '''
    from zoo.api import hookimpl

    @hookimpl
    def zoo_backbone():
        return []
'''

TAKES_TRAIN = '''
    from zoo.api import hookimpl

    @hookimpl
    def zoo_commands(cli):
        import click

        @cli.command("train")
        def train():
            """A plugin trying to replace zoo train."""
'''
