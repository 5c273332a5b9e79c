"""The doc CI: run every example on the site's real kernels and compare with its reference outputs."""
