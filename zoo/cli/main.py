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
    os.environ["KERAS_BACKEND"] = "tensorflow"  # zoo's models, layers and loops are TensorFlow's
    if verbose:
        os.environ["ZOO_VERBOSE"] = "1"
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")


class ZooGroup(click.Group):
    """A group that turns every error into one line and an exit code.

    Once :meth:`seal` is called (after the core's commands are in), a command whose name
    is taken is refused, so a plugin cannot silently replace ``zoo train``.
    """

    owners: dict[str, str]

    def seal(self) -> None:
        self.owners = {name: "zoo" for name in self.commands}

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        name = name or cmd.name
        owners = getattr(self, "owners", None)
        if owners is not None:
            from zoo.errors import PluginConflictError
            from zoo.plugin.host import get_host

            host = get_host()
            plugin = host.current or "?"
            if name in owners:
                raise PluginConflictError(f"command '{name}' is already provided by "
                                          f"{'zoo itself' if owners[name] == 'zoo' else 'plugin ' + repr(owners[name])}")
            owners[name] = plugin
            if plugin in host.records and name not in host.records[plugin].commands:
                host.records[plugin].commands.append(name)
        super().add_command(cmd, name)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Click's own usage errors (a missing argument, a bad flag) in zoo's one-line form too."""
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:
            where = f" (see `{exc.ctx.command_path} --help`)" if getattr(exc, "ctx", None) else ""
            click.echo(f"zoo: error: {exc.format_message()}{where}", err=True)
            code = exc.exit_code
        except click.exceptions.Abort:
            click.echo("zoo: aborted", err=True)
            code = 1
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context):
        from zoo.util.interrupt import watching_interrupts

        try:
            with watching_interrupts():
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
            from zoo.errors import input_error

            error = input_error(exc)  # a pipeline check's one line, wrapped by TensorFlow
            if error is not None:
                click.echo(f"zoo: error: {error}", err=True)
                ctx.exit(error.exit_code)
            click.echo(f"zoo: error: unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True)
            ctx.exit(1)


def build_cli() -> click.Group:
    """A fresh root group with the core commands and every plugin's commands."""

    @click.group(name="zoo", cls=ZooGroup, context_settings=CONTEXT_SETTINGS)
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
        show_zoo_warnings()
        warn_slow_plugins()

    from zoo.cli import catalogue, data, hub, training
    from zoo.plugin.catalog import get_catalog
    from zoo.plugin.host import get_host

    for module in (catalogue, training, data, hub):
        made = module.commands(get_catalog()) if hasattr(module, "commands") else module.COMMANDS
        for command in made:
            cli.add_command(command)
    cli.seal()
    get_host().call("zoo_commands", cli=cli)
    return cli


def show_zoo_warnings() -> None:
    """zoo's own warnings as one ``zoo: warning: ...`` line each; every other warning as Python shows it."""
    import warnings

    from zoo.errors import ZooWarning

    python_way = getattr(warnings.showwarning, "python_way", warnings.showwarning)

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, ZooWarning):
            click.echo(f"zoo: warning: {message}", err=True)
        else:
            python_way(message, category, filename, lineno, file, line)

    show.python_way = python_way
    warnings.showwarning = show
    warnings.simplefilter("always", ZooWarning)


def warn_slow_plugins() -> None:
    """Name the plugin that made this command slow (one that imports TensorFlow when loaded)."""
    import warnings

    from zoo.errors import ZooWarning
    from zoo.plugin.host import get_host

    for record in get_host().records.values():
        if record.slow_import:
            warnings.warn(record.slow_import, ZooWarning, stacklevel=2)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    quiet_tensorflow("-v" in args or "--verbose" in args)
    build_cli().main(args=args, prog_name="zoo")
