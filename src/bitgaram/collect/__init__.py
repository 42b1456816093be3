"""Collect: bring readings into the store, checked.

- :mod:`bitgaram.collect.validate`: :func:`validate_readings`, the pure check every
  collector runs (files, CityLearn, MQTT, Modbus, HTTP).
- :mod:`bitgaram.collect.files`: CSV and Parquet import (long and wide format), chunked.
- :mod:`bitgaram.collect.citylearn`: a CityLearn 2022 dataset as a site plus readings.
"""

from bitgaram.collect.validate import (
    DEFAULT_RULES,
    UNIT_BOUNDS,
    Validated,
    ValidationRules,
    validate_readings,
)

__all__ = ["DEFAULT_RULES", "UNIT_BOUNDS", "Validated", "ValidationRules", "validate_readings"]
