"""The ``zoo`` command line: the root group, error reporting and plugin commands.

Commands live in :mod:`zoo.commands`; this module only assembles them. Anything a
command raises as :class:`zoo.errors.ZooError` becomes one line on stderr and the
error's exit code (2 for usage errors); other exceptions show a traceback only with
``--debug``.
"""

from __future__ import annotations

import os
import sys

import click

from zoo import __version__
from zoo.errors import ZooError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def quiet_tensorflow(verbose: bool) -> None:
    """Silence TensorFlow's C++ and Python logging before it is ever imported."""
    if verbose:
        os.environ["ZOO_VERBOSE"] = "1"
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def fail(message: str, code: int = 1) -> None:
    click.echo(f"zoo: error: {message}", err=True)
    sys.exit(code)


class ZooGroup(click.Group):
    """A group that turns zoo's errors into one line and an exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ZooError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"zoo: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("zoo: interrupted", err=True)
            ctx.exit(130)
        except BrokenPipeError:  # `zoo ... | head`: the reader left; nothing more to say
            sys.stdout = open(os.devnull, "w")
            ctx.exit(0)
        except Exception as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"zoo: error: unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True)
            ctx.exit(1)


def build_cli() -> click.Group:
    """A fresh root group with the core commands and every plugin's commands."""

    @click.group(cls=ZooGroup, context_settings=CONTEXT_SETTINGS)
    @click.version_option(__version__, "-V", "--version", prog_name="zoo")
    @click.option("--debug", is_flag=True, envvar="ZOO_DEBUG", help="Show full tracebacks on errors.")
    @click.option("-v", "--verbose", is_flag=True, help="Let TensorFlow print its log messages.")
    @click.pass_context
    def cli(ctx: click.Context, debug: bool, verbose: bool) -> None:
        """zoo: a model zoo and adapter registry for transfer learning with Keras 3.

        Backbones, strategies, datasets and hubs all come from plugins; `zoo plugins`
        shows which are installed.
        """
        ctx.ensure_object(dict)
        ctx.obj["debug"] = debug
        quiet_tensorflow(verbose)

    from zoo.commands import catalogue, data, hub, training

    from zoo.catalog import get_catalog
    from zoo.plugins import get_host

    for module in (catalogue, training, data, hub):
        made = module.commands(get_catalog()) if hasattr(module, "commands") else module.COMMANDS
        for command in made:
            cli.add_command(command)
    get_host().call("zoo_commands", cli=cli)
    return cli


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    quiet_tensorflow("-v" in args or "--verbose" in args)
    build_cli().main(args=args, prog_name="zoo")
