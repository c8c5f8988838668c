"""Training: the run config and the notebooks' parameter schema (``params``), the one epoch
driver and fit loop, checkpoints, run folders (``runs``: train one, find finished ones, load
them), sweeps that dispatch many, training health, and the synthetic vector model's runs.

May import: model, data, core.
"""
