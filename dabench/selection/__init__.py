"""Model selection without target labels: validators score checkpoints, rules choose among them.

- ``validators``: label-free scores computed at every evaluation (``score/<name>`` in records).
- ``rules``: pure functions that pick one (sweep point, checkpoint) per run group.
"""
