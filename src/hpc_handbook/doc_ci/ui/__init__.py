"""The UI check and the screenshots: walking the hub and JupyterLab in Chromium (`walk`, `browser`),
comparing their names with the record (`check`), and their commands (`command`).
"""
