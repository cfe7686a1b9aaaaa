"""Option checks the core runs before anything is written (``StrategySpec.check``): no TensorFlow here."""

from __future__ import annotations

from typing import Any

from zoo_strategies.freezing import resolve_unfreeze


def check_unfreeze(options: dict[str, Any], backbone) -> None:
    """``--unfreeze`` must name stages the backbone has (``all`` also fits a backbone without stages)."""
    value = str(options.get("unfreeze", "0"))
    if backbone is None or (not backbone.stages and value.strip().lower() == "all"):
        return
    resolve_unfreeze(backbone, value)
