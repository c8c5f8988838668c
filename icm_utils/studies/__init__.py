"""Studies: questions answered with runs and tables: the identifiability theorem on a synthetic
SCM, graph misspecification, spline collapse, abduction with mechanism noise, the ingredients of
counterfactuals that follow the graph, what interventions on caused variables need (the support
ladder), and time to quality.

May import: evaluation, training, model, data, core.
"""
