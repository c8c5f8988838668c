"""Model: flow-based causal mechanisms, the causal disentanglement prior, encoders and decoders,
the noise-independence measure, recipes with the one objective, and the models built by name
from one spec table; the synthetic SCM's vector model.

May import: data, core.
"""
