"""Measurement and verification (M&V) of energy savings.

Pure core: baselines (:mod:`~bitgaram.verify.baseline`), goodness-of-fit
metrics and ASHRAE Guideline 14 acceptance (:mod:`~bitgaram.verify.metrics`),
avoided energy with its uncertainty (:mod:`~bitgaram.verify.savings`) and
anomalies (:mod:`~bitgaram.verify.anomalies`). Reports are written by
:mod:`~bitgaram.verify.report`, the only module here that touches files.
"""
