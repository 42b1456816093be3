"""Render the JSON lines of ``bench/scale_park.py --log FILE`` as Markdown tables with growth.

Usage::

    .venv/bin/python bench/scale_report.py /tmp/bitgaram_scale/log.jsonl

For each backend and stage, the last record per tenant count is used; growth
columns give the ratio to the next smaller park (10 -> 100 -> 1,000: linear is 10x).
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path
from typing import Any

#: (stage, field, label, unit scale, unit)
ROWS = [
    ("import", "generate_s", "generate park (Parquet)", 1.0, "s"),
    ("import", "seconds", "import Parquet (validated, chunked)", 1.0, "s"),
    ("import", "bytes", "storage after import", 1e-6, "MB"),
    ("import", "peak_rss_mb", "import peak RSS", 1.0, "MB"),
    ("query", "park_month_hourly_ms", "park load by hour, one month", 1.0, "ms"),
    ("query", "tenant_week_raw_ms", "one tenant's raw readings, one week", 1.0, "ms"),
    ("query", "tenant_month_hourly_ms", "one tenant's load by hour, one month", 1.0, "ms"),
    ("forecast", "seconds", "fleet forecast (all tenants, 24 h)", 1.0, "s"),
    ("forecast", "peak_rss_mb", "forecast peak RSS", 1.0, "MB"),
    ("schedule", "seconds", "fleet day-ahead schedule (battery tenants)", 1.0, "s"),
    ("schedule", "peak_rss_mb", "schedule peak RSS", 1.0, "MB"),
    ("downsample", "seconds", "downsample Jan -> hourly", 1.0, "s"),
]


def main(path: str) -> None:
    """Print one table per backend."""
    records: dict[tuple[str, str, int], dict[str, Any]] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            records[(r["backend"], r["stage"], int(r["tenants"]))] = r
    for backend in sorted({k[0] for k in records}):
        sizes = sorted({k[2] for k in records if k[0] == backend})
        print(f"\n{backend}\n")
        head = " | ".join(f"{n:,} tenants" for n in sizes)
        growth = " | ".join(f"{a}->{b}" for a, b in itertools.pairwise(sizes))
        print(f"| what | {head} | growth {growth} |")
        print("|---" * (2 + len(sizes)) + "|")
        for stage, field, label, scale, unit in ROWS:
            vals = [records.get((backend, stage, n), {}).get(field) for n in sizes]
            if all(v is None for v in vals):
                continue
            cells = ["-" if v is None else f"{v * scale:,.1f} {unit}" for v in vals]
            ratios = []
            for a, b in itertools.pairwise(vals):
                ratios.append("-" if a in (None, 0) or b is None else f"{b / a:.1f}x")
            print(f"| {label} | {' | '.join(cells)} | {' | '.join(ratios)} |")
        refs = []
        for n in sizes:
            rs = [r["ref_s"] for k, r in records.items() if k[0] == backend and k[2] == n]
            refs.append(f"{min(rs):.2f}-{max(rs):.2f} s" if rs else "-")
        print(f"| reference workload (same runs) | {' | '.join(refs)} | |")
        extra = []
        for n in sizes:
            imp = records.get((backend, "import", n), {})
            fc = records.get((backend, "forecast", n), {})
            sc = records.get((backend, "schedule", n), {})
            extra.append(
                f"{n}: rows={imp.get('rows')}, forecast rows={fc.get('rows')} "
                f"failures={fc.get('failures')}, batteries={sc.get('units')} "
                f"schedule failures={sc.get('failures')}"
            )
        print("\n" + "\n".join(extra))


if __name__ == "__main__":
    main(sys.argv[1])
