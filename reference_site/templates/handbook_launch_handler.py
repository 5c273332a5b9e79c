"""/hub/handbook-launch: where the handbook's "Open on the hub" links land.

The logged-in user is sent to JupyterHub's own spawn-through-URL for a named server of the
link's place and environment, and from there to nbgitpuller, which pulls the handbook's
examples into the home and opens the notebook (handbook_launch.py says how). A user who is
not logged in logs in first and comes back here.

Copied next to `jupyterhub_config.py` by `hpc-handbook site up`; edits are overwritten.
"""

import json
from pathlib import Path

from handbook_launch import LaunchError, launch_redirect
from jupyterhub.handlers import BaseHandler
from tornado import web

SETTINGS = json.loads((Path(__file__).resolve().parent / "hub-settings.json").read_text(encoding="utf-8"))


class LaunchHandler(BaseHandler):
    @web.authenticated
    async def get(self):
        query = {key: self.get_argument(key) for key in self.request.query_arguments}
        try:
            target = launch_redirect(
                query,
                user=self.current_user.name,
                base_url=self.base_url,
                repository=SETTINGS["launch"]["repository"],
            )
        except LaunchError as error:
            # The hub's error page, with the reason: the link is wrong, not the site.
            raise web.HTTPError(400, str(error)) from None
        self.redirect(target)
