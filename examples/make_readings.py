"""Write examples/readings.csv: two days of 15-minute readings of examples/park.toml.

Long format (meter, timestamp, value [kWh per 15 min]), UTC timestamps of interval
starts. Deterministic (seeded), so re-running it rewrites the same file::

    python examples/make_readings.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

#: First interval start (UTC) and length of the example data.
START, DAYS = "2026-06-01T00:00:00+09:00", 2


def readings(seed: int = 16) -> pd.DataFrame:
    """The example readings: two tenant loads and one PV meter [kWh per 15 min]."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(pd.Timestamp(START), periods=DAYS * 96, freq="15min")
    local = index.tz_convert("Asia/Seoul")
    hour = local.hour + local.minute / 60
    working = np.clip(np.sin((hour - 7) / 12 * np.pi), 0, None)
    sun = np.clip(np.sin((hour - 6) / 13 * np.pi), 0, None)
    kw = {
        "acme-load": 180 + 220 * working + 10 * rng.standard_normal(len(index)),
        "acme-pv": 120 * 0.8 * sun * (0.85 + 0.15 * rng.random(len(index))),
        "bestfoods-load": 150 + 60 * working + 8 * rng.standard_normal(len(index)),
    }
    frames = [
        pd.DataFrame(
            {
                "meter": meter,
                "timestamp": index.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
                "value": np.round(np.clip(values, 0, None) / 4, 3),
            }
        )
        for meter, values in kw.items()
    ]
    return pd.concat(frames, ignore_index=True)


if __name__ == "__main__":
    out = Path(__file__).with_name("readings.csv")
    readings().to_csv(out, index=False)
    print(f"wrote {out}")
