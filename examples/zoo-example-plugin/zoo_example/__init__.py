"""An example third-party zoo plugin: every section of docs/plugins.md, in order.

1. a backbone with ImageNet weights (built by the built-in ``keras`` source, so no model
   code is needed here);
2. two strategies: ``linear-probe``, trained through ``fit_phase`` with bounded options,
   and ``nearest-centroid``, which needs no training loop at all;
3. a dataset kind, ``csv:PATH``;
4. a hub, ``shelf://``, that shares runs through a folder;
5. a command, ``zoo embed``.

The module stays cheap to import: TensorFlow is imported only where models are built.
"""

from zoo.api import BackboneSpec, DatasetSpec, HubSpec, OptionSpec, StrategySpec, WeightsSpec, hookimpl

MOBILENET_V2_WEIGHTS = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"


@hookimpl
def zoo_backbones():
    return [
        BackboneSpec(
            name="mobilenetv2",
            source="keras",
            model="MobileNetV2",
            description="MobileNetV2 1.0 (Sandler et al. 2018), from keras.applications",
            input_size=224,
            min_input_size=32,
            preprocessing="tf",
            feature_dim=1280,
            stages=(
                ("stem", ("Conv1", "bn_Conv1", "Conv1_relu", "expanded_conv_")),
                ("block_1_6", tuple(f"block_{i}_" for i in range(1, 7))),
                ("block_7_12", tuple(f"block_{i}_" for i in range(7, 13))),
                ("block_13_16", tuple(f"block_{i}_" for i in range(13, 17)) + ("Conv_1", "Conv_1_bn", "out_relu")),
            ),
            params=2257984,
            weights=(
                WeightsSpec(
                    name="imagenet",
                    file=MOBILENET_V2_WEIGHTS,
                    url="https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/" + MOBILENET_V2_WEIGHTS,
                ),
            ),
            default_weights="imagenet",
        )
    ]


@hookimpl
def zoo_strategies():
    return [
        StrategySpec(
            name="linear-probe",
            trainer="zoo_example.probe:train",
            options=(
                OptionSpec("l2", "float", 1e-4, "L2 penalty on the new layer's weights", min=0.0, max=1.0),
                OptionSpec("label_smoothing", "float", 0.0, "label smoothing of the loss", min=0.0, max=0.5),
            ),
            description="frozen backbone, one softmax layer trained on images (augmentation applies)",
        ),
        StrategySpec(
            name="nearest-centroid",
            trainer="zoo_example.centroid:train",
            options=(OptionSpec("temperature", "float", 20.0, "softmax sharpness over cosine similarities", min=0.0),),
            description="frozen backbone; each class is the mean of its features (no training loop)",
        )
    ]


@hookimpl
def zoo_datasets():
    return [DatasetSpec(name="csv", loader="zoo_example.csvdata:load", argument="PATH",
                        describe="zoo_example.csvdata:describe",
                        description="a CSV of file,label[,split] rows; image paths relative to it")]


@hookimpl
def zoo_hubs():
    return [HubSpec(name="shelf", scheme="shelf", client="zoo_example.shelf:ShelfClient",
                    description="runs shared through a folder ($ZOO_SHELF)")]


@hookimpl
def zoo_commands(cli):
    import click

    from zoo.api import needs_tensorflow

    @cli.command()
    @click.argument("backbone")
    @click.argument("images", nargs=-1, required=True, type=click.Path(exists=True))
    @click.option("--weights", default="default", help="imagenet, none (random) or a weights file.")
    @click.option("--image-size", type=int, default=None, help="Input size (default: the backbone's).")
    @needs_tensorflow
    def embed(backbone, images, weights, image_size):
        """Print the BACKBONE feature vector of each image (folders: the images inside) as JSON lines."""
        import json

        from zoo.api import build_backbone, get_catalog

        built = build_backbone(get_catalog().backbone(backbone), weights=weights, input_size=image_size)
        for path, vector in embed_images(built, list(images)):
            click.echo(json.dumps({"image": path, "features": [float(v) for v in vector]}))


def embed_images(built, paths):
    """``(file, feature vector)`` from a built backbone for every image in ``paths`` (folders expanded).

    The files are listed once and that very list is what gets loaded, so each vector
    is paired with the file it came from; an unreadable file is an error naming it,
    never a gap that would shift the pairs.
    """
    from zoo.api import expand_image_paths, load_images

    files = expand_image_paths(paths)
    pixels = load_images(files, built.input_size, channels=built.spec.channels)
    features = built.model.predict(pixels, verbose=0)
    return list(zip(files, features, strict=True))
