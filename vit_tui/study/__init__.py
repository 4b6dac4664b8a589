"""Studies: many normal runs made and read together (``reproduce``, ``sweep``), headless.

A study is a plan of jobs (one config and seed each) kept in ``plan.json`` in its output folder;
each job is an ordinary run under ``<home>/runs/`` that carries ``study.json`` naming its study,
so ``vit-tui runs`` lists it and the app can group it. Nothing here imports textual or rich.
"""
