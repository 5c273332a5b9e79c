"""The doc CI: run every example on the site's real kernels and compare with its reference outputs.

One package a feature, each above the ones it uses:

- `compare`: fresh outputs against the reference ones, per cell, after the sanitizer
  (`examples.sanitize`);
- `run`: planning a run and running it, here or through the hub, and leaving nothing behind;
- `dispatch`: the examples that may run anywhere, as worker jobs on the site's nodes;
- `report`: the Markdown and JSON reports of a run;
- `notify`: chat and e-mail alerts to the owners and admins;
- `plan`: what to run after a system update or for a merge request;
- `ui`: the hub and JupyterLab walked in Chromium, and the screenshots;
- `bench`: the runner against its peers.

`refresh` records the site's outputs into the examples; `command` holds the commands
(`examples`, `refresh`, `bench`).
"""
