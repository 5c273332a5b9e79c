"""The hub as an account meets it: its REST API and pages (`client`), and a user server's kernels
(`kernels`) and terminals (`terminal`).
"""
