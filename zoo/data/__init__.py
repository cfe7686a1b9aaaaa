"""Datasets: the records loaders return, image files, the one ``tf.data`` pipeline, subsets.

:mod:`~zoo.data.records` (``LoadedDataset``, ``Split``), :mod:`~zoo.data.images` (finding and
screening image files), :mod:`~zoo.data.loading` (a reference such as ``folder:PATH`` to a
checked dataset), :mod:`~zoo.data.tfdata` (decode, resize, batch), :mod:`~zoo.data.augment`
(``--augment``), :mod:`~zoo.data.subsets` (few-shot and unlabelled views).
"""
