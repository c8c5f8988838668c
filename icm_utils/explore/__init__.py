"""Explore: the intervention explorer widget and the shipped pretrained checkpoints it opens.

May import: evaluation, training, model, data, core (never studies).
"""
