"""Comparing fresh outputs with the reference ones, as nbval does: per cell (`cells`) after the
sanitizer's rules (`sanitize`).
"""
