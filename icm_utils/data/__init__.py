"""Data: causal graphs (and their misspecified variants), SCMs, the Pendulum and Water-flow
simulators, rendering, cached datasets, the synthetic SCM, CausalCircuit's shards, a user's own
folder of images, labels and graph, and the one image conversion.

May import: core.
"""
