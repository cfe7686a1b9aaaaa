"""Built-in plugin: the three transfer strategies."""

from zoo.api import hookimpl


@hookimpl
def zoo_strategies():
    from zoo_strategies.specs import STRATEGIES

    return STRATEGIES
