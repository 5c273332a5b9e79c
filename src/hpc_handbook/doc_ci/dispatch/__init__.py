"""Spreading runs over the site's nodes: one worker job per node (`jobs`) that claims runs from a
shared queue (`worker`).
"""
