"""Commands that move weights and adapters: pull and push."""

from __future__ import annotations

import click

from zoo.cli.output import echo_json
from zoo.errors import UsageError, unknown_name


@click.command()
@click.argument("ref", metavar="NAME|REPO_ID[@REV]|hf://REPO_ID[@REV]")
@click.option("--weights", default=None,
              help="Which weights of a backbone to fetch (default: its default weights); not for adapters.")
@click.option("--force", is_flag=True, help="Fetch again even when the cache holds it (a damaged copy, say).")
@click.option("--json", "as_json", is_flag=True, help="Print what was fetched as JSON.")
def pull(ref: str, weights: str | None, force: bool, as_json: bool) -> None:
    """Fetch a backbone's weights, or an adapter from a hub, into the local cache.

    A backbone name (`zoo pull resnet50`) fetches its weights file; a registered
    adapter name, `owner/repo[@rev]` or `hf://owner/repo[@rev]` downloads an adapter
    into the hub's cache, verifies its checksums, and prints its local directory.
    With HF_HUB_OFFLINE=1 adapters come from the cache only. ZOO_CONNECT_TIMEOUT (default
    10) and ZOO_READ_TIMEOUT (default 60) bound, in seconds, every wait on a server.
    """
    from zoo.plugin.catalog import get_catalog
    from zoo.util.network import network_timeouts

    network_timeouts()  # a bad ZOO_CONNECT_TIMEOUT / ZOO_READ_TIMEOUT is refused before any work
    catalog = get_catalog()
    is_name = "/" not in ref and "://" not in ref
    if is_name and ref not in catalog.backbones and ref not in catalog.adapters \
            and ref.partition(":")[0] not in catalog.backbone_sources:
        raise unknown_name("backbone or adapter", ref, [*catalog.backbones, *catalog.adapters],
                           lead=f"no backbone or adapter named {ref!r}",
                           hint="see `zoo list backbones` and `zoo list adapters`, or pull OWNER/REPO[@REV]")
    if ref in catalog.backbones or ref.partition(":")[0] in catalog.backbone_sources:
        from zoo.backbone.weights import pull_backbone

        result = pull_backbone(catalog.backbone(ref), weights, force=force)  # imports TensorFlow only to download
    else:
        from zoo.run.hub import pull_adapter

        if weights is not None:
            raise UsageError(f"--weights chooses a backbone's weights; '{ref}' is an adapter, which records "
                             f"its own: drop --weights")
        result = pull_adapter(catalog, ref, force=force)
    if as_json:
        echo_json(result)
    else:
        click.echo(result["path"])


@click.command()
@click.argument("run_dir", metavar="RUN", type=click.Path(file_okay=False))
@click.argument("repo_id", metavar="REPO_ID")
@click.option("--private", is_flag=True, help="Create the repository as private.")
@click.option("--revision", default=None, help="Branch to push to (created when missing).")
@click.option("--message", "-m", default=None, help="Commit message.")
@click.option("--register", "register_as", default=None, metavar="NAME",
              help="Also add [adapters.NAME] pinned to the new commit to ./registry.toml.")
@click.option("--hub", "hub_name", default="hf", show_default=True, help="Which hub plugin to push to.")
@click.option("--no-full-model", "no_full_model", is_flag=True,
              help="Push the adapter alone, without the full model for plain Keras (Keras' config.json, "
                   "metadata.json and model.weights.h5 at the repository's root).")
@click.option("--license", "license_id", default=None, metavar="ID",
              help="The card's licence, a Hub licence id such as apache-2.0 (default: the base weights' licence).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def push(run_dir: str, repo_id: str, private: bool, revision: str | None, message: str | None,
         register_as: str | None, hub_name: str, no_full_model: bool, license_id: str | None, as_json: bool) -> None:
    """Publish the adapter in RUN to REPO_ID, with a generated model card.

    Creates the repository (and the --revision branch) when missing; RUN itself is only
    read. zoo's record goes up as zoo.json; the repository's root gets the full model,
    checked in plain Keras, in Keras' folder layout, so that keras.saving.load_model("hf://REPO_ID")
    loads it (unless --no-full-model). The token comes from HF_TOKEN or `hf auth login`; HF_ENDPOINT picks the server;
    ZOO_CONNECT_TIMEOUT and ZOO_READ_TIMEOUT bound, in seconds, every wait on it.
    """
    from zoo.plugin.catalog import get_catalog
    from zoo.run.hub import push_adapter
    from zoo.util.network import network_timeouts

    network_timeouts()  # a bad ZOO_CONNECT_TIMEOUT / ZOO_READ_TIMEOUT is refused before any work
    result = push_adapter(get_catalog(), run_dir, repo_id, hub_name=hub_name, private=private,
                          revision=revision, message=message, register_as=register_as,
                          full_model=not no_full_model, license=license_id)
    if as_json:
        echo_json(result)
    else:
        click.echo(f"pushed {result['repo_id']}@{result['commit']}")
        click.echo(result["url"])
        if result.get("full_model"):
            check = result["full_model"]
            click.echo(f"zoo: the full model checked in plain Keras on {check['images']} images: top-1 agreement "
                       f"{check['top1_agreement']:.4f}, max probability difference {check['max_prob_diff']:.2e}",
                       err=True)
        elif result.get("full_model_missing") and not no_full_model:
            click.echo(f"zoo: {result['full_model_missing']}", err=True)
        if result.get("registered_as"):
            click.echo(f"registered adapter '{result['registered_as']}' in {result['registry']}")


COMMANDS = [pull, push]
