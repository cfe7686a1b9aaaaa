"""Training one stage: dataset -> backbone -> strategy -> evaluation -> run folder.

:mod:`~zoo.train.config` reads a stage's settings, :mod:`~zoo.train.plan` checks them all
before anything is written, :mod:`~zoo.train.inputs` loads what they name,
:mod:`~zoo.train.stage` trains and writes, :mod:`~zoo.train.pipeline` chains stages. A
strategy sees :mod:`~zoo.train.job` (its contract) and :mod:`~zoo.train.fit` (the loop);
:mod:`~zoo.train.checkpoints`, :mod:`~zoo.train.distribute`, :mod:`~zoo.train.precision` and
:mod:`~zoo.train.evaluation` serve them.
"""
