"""Coverage-guided fuzz targets for every decoder that reads bytes from outside (atheris).

``fuzz/targets.py`` holds one function per decoder; ``fuzz/run.py`` runs them under atheris
(``make soak``), and ``tests/fuzz/`` drives the same functions with Hypothesis in ``make test``.
"""
