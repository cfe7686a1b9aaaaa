"""A dataset reference (``folder:PATH``, ``digits``) to a checked :class:`~zoo.data.records.LoadedDataset`.

The loader belongs to a plugin; this module calls it with the options it accepts, checks
what comes back, and draws the validation split the same way for every loader.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from zoo.data.images import bad_images_error, check_on_bad_image
from zoo.data.records import LoadedDataset, check_fraction
from zoo.errors import UsageError, ZooError

# -- loading -------------------------------------------------------------------------


def _loader_kwargs(loader: Callable, ref: str, standard: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments ``loader`` accepts: standard ones if it names them, options always."""
    try:
        parameters = inspect.signature(loader).parameters
    except (TypeError, ValueError):
        return {**standard, **options}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return {**standard, **options}
    unknown = sorted(set(options) - set(parameters))
    if unknown:
        accepted = sorted(set(parameters) - {"argument", *standard}) or ["none"]
        raise UsageError(f"dataset '{ref}' takes no option {', '.join(unknown)} (it takes: {', '.join(accepted)})")
    return {**{k: v for k, v in standard.items() if k in parameters}, **options}


def load_dataset(ref: str, *, catalog=None, val_split: float | None = None, seed: int = 0,
                 on_bad_image: str = "skip", **options: Any) -> LoadedDataset:
    """Open a dataset reference (``digits``, ``folder:PATH``, ...) through its plugin.

    With ``val_split``, a dataset that has no ``val`` split of its own gets one: that
    fraction of ``train``, stratified by class and drawn by ``seed``. Unreadable images
    are skipped and listed in ``bad_files``, or with ``on_bad_image="fail"`` refused
    with a :class:`UsageError` naming them.
    """
    from zoo.plugin.catalog import get_catalog
    from zoo.plugin.specs import load_object

    check_on_bad_image(on_bad_image)
    if val_split is not None:
        check_fraction(val_split)
    catalog = catalog or get_catalog()
    spec, argument = catalog.dataset(ref)
    loader = load_object(spec.loader)
    kwargs = _loader_kwargs(loader, ref, {"seed": seed, "on_bad_image": on_bad_image}, options)
    loaded = loader(argument, **kwargs)
    if not isinstance(loaded, LoadedDataset):
        raise ZooError(f"dataset '{ref}': the loader {spec.loader} of plugin '{spec.plugin}' returned "
                       f"{type(loaded).__name__}, not a zoo.data.records.LoadedDataset; report it to the plugin's authors")
    if on_bad_image == "fail" and loaded.bad_files:
        raise bad_images_error(loaded.bad_files, ref)
    if not loaded.splits:
        raise UsageError(f"dataset '{ref}' has no examples")
    if val_split and "val" not in loaded.splits and "train" in loaded.splits:
        loaded = loaded.with_val_split(val_split, seed)
    loaded.ref = loaded.ref or ref
    return loaded
