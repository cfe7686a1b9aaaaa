"""Backbones: from a spec to a Keras model (raw RGB in, features out), its weights and pixel scaling.

:mod:`~zoo.backbone.build` builds, :mod:`~zoo.backbone.weights` finds and verifies weight files,
:mod:`~zoo.backbone.preprocessing` defines each preprocessing mode, and
:mod:`~zoo.backbone.normalization` chooses the scaling a run puts in front (``--normalization``).
"""
