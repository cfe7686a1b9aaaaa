"""Commands about what is installed: plugins, install, uninstall, list, info.

None of them imports TensorFlow; they must answer in a fraction of its import time.
"""

from __future__ import annotations

import importlib
import subprocess
import sys

import click

from zoo.cli.output import echo_json, echo_mapping, echo_table
from zoo.errors import ZooError

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


@click.command()
@json_option
def plugins(as_json: bool) -> None:
    """Show installed plugins, what each provides, and any that failed to load."""
    from zoo.plugin.catalog import get_catalog
    from zoo.plugin.host import get_host

    get_catalog().check_all()  # every clash between plugins is then on their records
    records = get_host().report()
    if as_json:
        echo_json([r.to_json() for r in records])
        return
    rows = []
    for r in records:
        provides = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in r.provides.items())
        rows.append({"name": r.name, "version": r.version, "status": r.status if not r.slow_import else "slow",
                     "provides": (r.error if r.status != "ok" else provides)
                     + (f" [{r.slow_import}]" if r.slow_import else "")})
    echo_table(rows, ["name", "version", "status", "provides"], empty="no plugins loaded (see ZOO_PLUGINS)")


def _pip(action: str, args: tuple[str, ...]) -> None:
    command = [sys.executable, "-m", "pip", action, *args]
    click.echo("$ " + " ".join(command), err=True)
    result = subprocess.run(command)
    if result.returncode != 0:
        raise ZooError(f"pip {action} failed with exit status {result.returncode}; see pip's output above")


def _entry_point_names() -> set[str]:
    import importlib.metadata as metadata

    importlib.invalidate_caches()
    return {ep.name for ep in metadata.entry_points(group="zoo")}


PIP_ARGS = {"ignore_unknown_options": True, "allow_interspersed_args": False}


@click.command(context_settings=PIP_ARGS)
@click.argument("packages", nargs=-1, required=True, type=click.UNPROCESSED)
def install(packages: tuple[str, ...]) -> None:
    """Install plugin PACKAGES with pip, into the Python that runs zoo.

    Anything pip install accepts works: names, paths, `-e PATH`, `-U NAME`.
    """
    before = _entry_point_names()
    _pip("install", packages)
    added = sorted(_entry_point_names() - before)
    click.echo(f"new plugins: {', '.join(added)}" if added else "no new zoo plugins (see `zoo plugins`)")


@click.command(context_settings=PIP_ARGS)
@click.argument("packages", nargs=-1, required=True, type=click.UNPROCESSED)
def uninstall(packages: tuple[str, ...]) -> None:
    """Uninstall plugin PACKAGES with pip (no confirmation prompt)."""
    import importlib.metadata as metadata

    names = [p for p in packages if not p.startswith("-")]
    missing = []
    for name in names:
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        raise ZooError(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed, so nothing was "
                       "uninstalled; `zoo plugins` shows the DISTRIBUTION of each plugin")
    before = _entry_point_names()
    _pip("uninstall", ("-y", *packages))
    removed = sorted(before - _entry_point_names())
    click.echo(f"removed plugins: {', '.join(removed)}" if removed else "no zoo plugins removed")


LIST_COLUMNS = {
    "backbones": ["name", "plugin", "source", "input_size", "feature_dim", "preprocessing", "weights", "status"],
    "strategies": ["name", "plugin", "source", "description"],
    "datasets": ["name", "plugin", "usage", "description"],
    "adapters": ["name", "status", "source", "description"],
}


@click.command(name="list")
@click.argument("kind", metavar="{backbones|strategies|datasets|adapters}")
@click.argument("pattern", required=False)
@json_option
def list_(kind: str, pattern: str | None, as_json: bool) -> None:
    """List backbones, strategies, datasets or adapters, optionally matching PATTERN.

    PATTERN is a substring, or a glob when it has * ? or [.
    """
    from zoo.plugin.catalog import get_catalog
    from zoo.plugin.inventory import list_items, normalise_kind

    kind = normalise_kind(kind)
    rows = list_items(get_catalog(), kind, pattern)
    if as_json:
        echo_json(rows)
        return
    echo_table(rows, LIST_COLUMNS[kind], empty=f"no {kind}" + (f" matching {pattern!r}" if pattern else ""))
    for reason in sorted({row["reason"] for row in rows if row.get("reason")}):
        names = ", ".join(row["name"] for row in rows if row.get("reason") == reason)
        click.echo(f"unavailable: {names}: {reason}")


@click.command()
@click.argument("name")
@json_option
def info(name: str, as_json: bool) -> None:
    """Describe a backbone, strategy, dataset (e.g. folder:PATH) or adapter."""
    from zoo.plugin.catalog import get_catalog
    from zoo.plugin.inventory import info as describe

    data = describe(get_catalog(), name)
    if as_json:
        echo_json(data)
    else:
        echo_mapping(data)


COMMANDS = [plugins, install, uninstall, list_, info]
