"""What the built-in dataset kinds are called (no TensorFlow)."""

from zoo.api import DatasetSpec

DATASETS = [
    DatasetSpec(
        name="folder",
        argument="PATH",
        loader="zoo_datasets.folder:load",
        describe="zoo_datasets.folder:describe",
        description="image folder, one sub-folder per class (optionally train/ val/ test/ splits)",
    ),
    DatasetSpec(
        name="npz",
        argument="PATH",
        loader="zoo_datasets.arrays:load",
        describe="zoo_datasets.arrays:describe",
        description="NumPy .npz with arrays x (N,H,W[,C]) and y (N,); optional x_val/y_val, x_test/y_test, class_names",
    ),
    DatasetSpec(
        name="tfds",
        argument="NAME",
        loader="zoo_datasets.tfds:load",
        describe="zoo_datasets.tfds:describe",
        description="a TensorFlow Datasets dataset already prepared in $TFDS_DATA_DIR (default ~/tensorflow_datasets)",
    ),
    DatasetSpec(
        name="digits",
        loader="zoo_datasets.digits:load_digits",
        describe="zoo_datasets.digits:describe_digits",
        description="scikit-learn's 8x8 handwritten digits, upscaled, 3 channels (source domain)",
    ),
    DatasetSpec(
        name="digits-m",
        loader="zoo_datasets.digits:load_digits_m",
        describe="zoo_datasets.digits:describe_digits_m",
        description="the same digits as coloured strokes over random colour/texture backgrounds (target domain)",
    ),
]
