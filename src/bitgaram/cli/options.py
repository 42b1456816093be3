"""Options shared by the commands that work on a stored site.

``--site ID`` names the stored site (:data:`SiteOption`); :func:`load_cli_site`
resolves it with the rule every surface shares
(:func:`bitgaram.site.choose_site_id`): the named site, else the only stored
one, else a one-line error listing the ids to choose from (exit code 2).
Commands that read a site FILE (``init``, ``collect run``, ``control run``)
keep their own ``--site FILE``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from bitgaram.site import Site, choose_site_id
from bitgaram.store.base import Store

SiteOption = Annotated[
    str | None,
    typer.Option(
        "--site",
        metavar="ID",
        help="Stored site to work on (default: the only stored site; "
        "`bitgaram site list` shows the ids).",
    ),
]


def resolve_site_id(store: Store, site_id: str | None) -> str:
    """The id of the stored site a command works on.

    Raises
    ------
    bitgaram.site.SiteChoiceError
        If ``site_id`` is not stored, or it is None and several sites are.
    bitgaram.errors.StoreError
        If no site is stored.
    """
    return choose_site_id(store.list_sites(), site_id, how="--site ID", where=store.url)


def load_cli_site(store: Store, site_id: str | None) -> Site:
    """The stored site named by ``--site`` (see :func:`resolve_site_id`)."""
    return store.load_site(resolve_site_id(store, site_id))
