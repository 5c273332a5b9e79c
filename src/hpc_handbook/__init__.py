"""Tooling for the Jupyter@HPC handbook: site profile, reference site, doc CI and the book extension.

The book's Sphinx extension is `hpc_handbook.book`, so that the command line never loads Sphinx.
"""

__version__ = "0.1.0"
