"""Physical assets of a site, one module per asset kind.

Each module describes the physics of one asset kind once (a frozen parameter
dataclass plus pure functions); the simulator steps it exactly and the
optimizer uses its linearisation. Today: :mod:`~bitgaram.assets.battery`.
"""
