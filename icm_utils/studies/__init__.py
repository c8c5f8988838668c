"""Studies: questions answered with runs and tables: the identifiability theorem on a synthetic
SCM (with its vector model), graph misspecification, spline collapse, abduction with mechanism
noise, and CausalCircuit's counterfactual pairs.

May import: evaluation, training, model, data, core.
"""
