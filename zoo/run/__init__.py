"""The run folder: what a training run leaves behind, and what a hub shares as an adapter.

:mod:`~zoo.run.folder` (layout, reading, checksums), :mod:`~zoo.run.write` (writing a
finished stage), :mod:`~zoo.run.heads` and :mod:`~zoo.run.delta` (the two weight files),
:mod:`~zoo.run.load` (a folder back into a model), :mod:`~zoo.run.inference` (evaluate and
predict), :mod:`~zoo.run.export` (one full model), :mod:`~zoo.run.hub` (push and pull through
hub plugins), :mod:`~zoo.run.plots` (curves and confusion matrix).
"""
