"""What to run, and in which order: after a system update (`since_snapshot`), for a merge request's
change (`change`), and its book preview (`preview`).
"""
