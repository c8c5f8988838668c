"""Evaluation: disentanglement metrics, block-level identifiability, control codes and control
rows, the probe that reads factors off images, counterfactual scoring on one set type
(simulated or recorded pairs; the one chain that scores models beside their controls), tidy
tables and plots.

May import: training, model, data, core.
"""
