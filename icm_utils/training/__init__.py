"""Training: the run config, the one epoch driver and fit loop, checkpoints, run folders
(``runs``: train one, find finished ones, load them), sweeps that dispatch many, and training
health.

May import: model, data, core.
"""
