"""The changelog: one fragment per change (`fragments`: their model, reading and writing) and `hpc-
handbook changelog` (`command`).
"""
