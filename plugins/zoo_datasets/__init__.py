"""Built-in plugin: image folders, .npz arrays, TFDS and the offline digits domains."""

from zoo.api import hookimpl


@hookimpl
def zoo_datasets():
    from zoo_datasets.specs import DATASETS

    return DATASETS
