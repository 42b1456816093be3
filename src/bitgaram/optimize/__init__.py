"""Scheduling of flexible assets by linear programming (HiGHS).

- :mod:`~bitgaram.optimize.problem`: a sparse LP container and the HiGHS
  session (one-shot or persistent, warm-started) with typed results;
- :mod:`~bitgaram.optimize.battery`: the battery block (variables and
  constraints over (battery, time)), from :mod:`bitgaram.assets.battery`;
- :mod:`~bitgaram.optimize.site`: the site problem that composes asset blocks
  and the objective terms (cost, carbon, export, ramping, peak, throughput);
- :mod:`~bitgaram.optimize.mpc`: the receding-horizon controller.
"""

from bitgaram.optimize.problem import LinearProgram, LPSolution, Status

__all__ = ["LPSolution", "LinearProgram", "Status"]
