"""The examples: what every notebook in `examples/` declares and how the handbook reads it
(`contract`), and the sanitizer that keeps this machine out of their outputs (`sanitize`, with
the rules in `examples/sanitize.cfg`).

The doc CI runs them, the prose check and the book read them; none of those reads a
notebook's metadata or cleans its outputs any other way.
"""
