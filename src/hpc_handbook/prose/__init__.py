"""The prose check: every name and request a page states about the site, held against the site.

`claims` finds what a line claims by its context, `sources` reads pages and notebook cells as
readers see them (facts filled in), `check` judges each claim against the site vocabulary, and
`report_rows` makes its findings rows of the doc CI's report (one per page, with its owner);
`command` is `hpc-handbook prose`, which the doc CI also runs.
"""
