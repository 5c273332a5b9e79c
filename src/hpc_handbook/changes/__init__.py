"""Changes of the site as data: what differs between two snapshots (`detect`), each change's typed
items (`items`), and the changelog fragments the probe writes for them (`fragments`).
"""
