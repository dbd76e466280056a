"""The presentation layer: figures, the validation log, the chapters and their runner, the
command line, and the lab's chapters themselves. It stands on everything else; nothing imports it.

- :mod:`~elbolab.presentation.figures` — one module per part (``figures.intractable``,
  ``figures.kl``, ``figures.jensen``, ``figures.elbo``, ``figures.training``,
  ``figures.two_forces``, ``figures.diffusion``) and ``figures.style``; figures take arrays
- :mod:`~elbolab.presentation.validation` — ``ValidationLog``: checks → ``metrics.json``
- :mod:`~elbolab.presentation.chapters` — ``CHAPTERS`` (``notebooks/*.py``, one per chapter) and
  ``Chapter``, the context each chapter's notebook starts with
- :mod:`~elbolab.presentation.checklist` — the handout's items verbatim, and what shows each
- :mod:`~elbolab.presentation.lab` — ``run_lab``: runs the chapters, merges what they verified
- :mod:`~elbolab.presentation.options` — command-line options generated from the configs
- :mod:`~elbolab.presentation.cli` — ``elbolab lab | train | sweep | evaluate``

Nothing is imported here, so that the command line starts without matplotlib or Jupyter.
"""
