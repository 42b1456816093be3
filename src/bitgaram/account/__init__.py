"""Carbon and RE100 accounting: Scope 2 (location- and market-based), RE share, 24/7 CFE.

Pure core: grid factors and renewable instruments are data
(:mod:`~bitgaram.account.factors`, :mod:`~bitgaram.account.instruments`),
the ledger (:mod:`~bitgaram.account.ledger`) and RE100 progress
(:mod:`~bitgaram.account.re100`) compute from arrays; only
:mod:`~bitgaram.account.export` writes files.
"""
