"""Core: paths, seeding and devices, atomic writes, and the correlation/matching statistics.

Imports nothing from the package; every layer may import it.
"""
