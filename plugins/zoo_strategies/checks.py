"""Option checks the core runs before anything is written (``StrategySpec.check``): no TensorFlow here."""

from __future__ import annotations

from typing import Any

from zoo_strategies.freezing import resolve_unfreeze


def check_unfreeze(options: dict[str, Any], backbone) -> None:
    """``--unfreeze`` must name stages the backbone has (``all`` also fits a backbone without stages).

    An ad-hoc backbone (``SOURCE:ARGUMENT``) may learn its stages only once its files are
    fetched: without stages yet, it is checked again then (the core calls this after pinning).
    """
    value = str(options.get("unfreeze", "0"))
    if backbone is None or (not backbone.stages and value.strip().lower() == "all"):
        return
    if not backbone.stages and backbone.origin == "command line" and not backbone.feature_dim:
        return  # not known yet
    resolve_unfreeze(backbone, value)
