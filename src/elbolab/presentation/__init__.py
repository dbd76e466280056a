"""The presentation layer: figures, the validation log, the notebook runner, the command
line, and the lab notebook itself. It stands on everything else; nothing imports it.

- :mod:`~elbolab.presentation.figures` — one module per part (``figures.intractable``,
  ``figures.kl``, ``figures.jensen``, ``figures.elbo``, ``figures.training``,
  ``figures.two_forces``, ``figures.diffusion``) and ``figures.style``; figures take arrays
- :mod:`~elbolab.presentation.validation` — ``ValidationLog``: checks → ``metrics.json``
- :mod:`~elbolab.presentation.lab` — ``run_lab``: executes ``notebooks/lab3_elbo.py``
- :mod:`~elbolab.presentation.options` — command-line options generated from the configs
- :mod:`~elbolab.presentation.cli` — ``elbolab lab | train | sweep | evaluate``

Nothing is imported here, so that the command line starts without matplotlib or Jupyter.
"""
