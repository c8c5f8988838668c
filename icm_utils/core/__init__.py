"""Core: paths, seeding and devices, atomic writes, the correlation/matching statistics, and
the relative links of the Markdown documents.

Imports nothing from the package; every layer may import it.
"""
