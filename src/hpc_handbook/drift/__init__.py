"""The drift check: what the profile (and so the book) claims against a probe of the site, each
mismatch with the pages it concerns (`check`, with `partitions` and `hub`; `findings` is the result,
`command` the command).
"""
