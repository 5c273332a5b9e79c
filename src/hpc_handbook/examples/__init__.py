"""The examples: what every notebook in `examples/` declares and how the handbook reads it (`contract`).

The doc CI runs them, the prose check and the book read their records; none of those
reads a notebook's metadata any other way.
"""
