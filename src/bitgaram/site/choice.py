"""Which stored site a command or a request works on: one rule for the CLI and the API.

A store may hold several sites (the CityLearn import and a park's own site
file, say). Everything that works on a stored site names one (``--site ID`` on
the command line, ``?site_id=`` in the API); when nothing is named, the only
stored site is used, and with several the caller is told which ids to choose
from. :func:`choose_site_id` is that rule; the CLI
(:mod:`bitgaram.cli.options`) and the API (:mod:`bitgaram.api.deps`) only say
how the choice is spelled.
"""

from __future__ import annotations

from collections.abc import Sequence

from bitgaram.errors import ConfigError, StoreError


class SiteChoiceError(ConfigError):
    """No site was named and several are stored, or the named one is not stored.

    Attributes
    ----------
    site_ids : tuple of str
        The ids the caller may choose from.
    unknown : str or None
        The id asked for when it is not among ``site_ids`` (None: none was named).
    """

    def __init__(self, message: str, site_ids: Sequence[str], unknown: str | None = None) -> None:
        super().__init__(message)
        self.site_ids = tuple(site_ids)
        self.unknown = unknown


def choose_site_id(
    stored: Sequence[str], wanted: str | None, *, how: str = "--site ID", where: str = "the store"
) -> str:
    """The id of the site to work on.

    Parameters
    ----------
    stored : sequence of str
        Ids of the sites the caller may use (all stored sites, or fewer).
    wanted : str or None
        The id the caller named, if any.
    how : str
        How the caller names a site, for the message (``"--site ID"``, ``"?site_id="``).
    where : str
        What holds the sites, for the message (the store's URL).

    Returns
    -------
    str
        ``wanted`` when it is stored, else the only stored id.

    Raises
    ------
    StoreError
        If no site is stored at all.
    SiteChoiceError
        If ``wanted`` is not stored, or none was named and several are stored;
        the one-line message lists the ids to choose from.

    Examples
    --------
    >>> choose_site_id(["fontana"], None)
    'fontana'
    >>> choose_site_id(["fontana", "park"], None, how="--site ID")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bitgaram.site.choice.SiteChoiceError: the store holds several sites (fontana, park): ...
    """
    ids = sorted(stored)
    if wanted is not None:
        if wanted in ids:
            return wanted
        choices = ", ".join(ids) if ids else "none"
        raise SiteChoiceError(f"no site {wanted!r} in {where} (sites: {choices})", ids, wanted)
    if not ids:
        raise StoreError(f"no site stored in {where}; run `bitgaram init --site FILE`")
    if len(ids) > 1:
        raise SiteChoiceError(
            f"{where} holds several sites ({', '.join(ids)}): name one with {how}", ids
        )
    return ids[0]
