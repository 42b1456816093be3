"""Write a synthetic park: a site TOML plus Parquet readings, or straight into a store.

Readings are produced tenant chunk by tenant chunk (:func:`iter_chunks`), so
memory stays bounded by one chunk (about ``chunk * steps * 2`` floats) whatever
the number of tenants.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bitgaram.site import Site
from bitgaram.store import Store, WriteReport
from bitgaram.synth.park import (
    SynthSpec,
    TenantPlan,
    iter_chunks,
    load_meter,
    pv_meter,
)
from bitgaram.synth.profiles import BaseProfiles

#: Schema of the Parquet readings (meter ids dictionary-encoded: few distinct, many rows).
PARQUET_SCHEMA = pa.schema(
    [
        pa.field("meter_id", pa.dictionary(pa.int32(), pa.string()), nullable=False),
        pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
        pa.field("quality", pa.int16(), nullable=False),
    ]
)

#: Called after each chunk with the number of tenants done.
ProgressFn = Callable[[int], None]


@dataclass(frozen=True)
class SynthOutput:
    """What was written.

    Attributes
    ----------
    tenants : int
        Tenants generated.
    readings : int
        Rows written.
    site_file, readings_file : pathlib.Path or None
        Files written (``None`` when writing into a store).
    """

    tenants: int
    readings: int
    site_file: Path | None = None
    readings_file: Path | None = None


def whole_meter_rows(spec: SynthSpec, target: int = 1_000_000) -> int:
    """Rows per Parquet row group (and per import chunk): whole meters, about ``target`` rows.

    Files are meter-major, so chunks of whole meters never split a meter's year across
    two store transactions (each chunk then takes the store's bulk-insert path).
    """
    return spec.steps * max(1, target // spec.steps)


def readings_table(
    plan: TenantPlan, part: slice, load_kwh: np.ndarray, pv_kwh: np.ndarray, spec: SynthSpec
) -> pa.Table:
    """Long readings (meter_id, ts, value, quality) of a chunk, each meter contiguous and sorted.

    Tenants without PV get no PV rows.
    """
    ids = plan.ids[part]
    ts = pa.array(spec.utc_index().as_unit("us"), pa.timestamp("us", tz="UTC"))
    steps = spec.steps
    names: list[str] = []
    blocks: list[np.ndarray] = []
    for j, tid in enumerate(ids):
        names.append(load_meter(tid))
        blocks.append(load_kwh[j])
        if plan.pv_kwp[part][j] > 0:
            names.append(pv_meter(tid))
            blocks.append(pv_kwh[j])
    codes = np.repeat(np.arange(len(names), dtype=np.int32), steps)
    meter = pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(names, pa.string()))
    values = np.concatenate(blocks) if blocks else np.zeros(0)
    n = len(names)
    ts_col = pa.chunked_array([ts] * n, type=ts.type) if n else pa.chunked_array([], ts.type)
    return pa.table(
        {
            "meter_id": meter,
            "ts": ts_col.combine_chunks(),
            "value": pa.array(values, pa.float64()),
            "quality": pa.array(np.zeros(len(values), dtype=np.int16)),
        },
        schema=PARQUET_SCHEMA,
    )


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        inner = ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items() if v is not None)
        return "{ " + inner + " }"
    # JSON string escaping is valid TOML basic-string escaping for our ids and names.
    return json.dumps(str(value), ensure_ascii=False)


def site_toml(site: Site) -> str:
    """The site as a TOML document :func:`bitgaram.site.load_site` reads back.

    Examples
    --------
    >>> from bitgaram.site import parse_site
    >>> s = parse_site({"site": {"id": "p", "name": "P"}})
    >>> print(site_toml(s).splitlines()[1])
    id = "p"
    """
    lines = ["[site]"]
    info = site.site.model_dump(mode="json", exclude_none=True)
    for key in ("id", "name"):
        lines.append(f"{key} = {_toml_value(info[key])}")
    for key, value in info.items():
        if key not in ("id", "name"):
            lines.append(f"{key} = {_toml_value(value)}")
    for table in ("tenants", "meters", "assets"):
        for item in getattr(site, table):
            lines.append("")
            lines.append(f"[[{table}]]")
            fields = item.model_dump(mode="json", exclude_none=True)
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in fields.items())
    return "\n".join(lines) + "\n"


def write_files(
    base: BaseProfiles,
    plan: TenantPlan,
    spec: SynthSpec,
    site: Site,
    out: Path,
    chunk: int = 100,
    progress: ProgressFn | None = None,
) -> SynthOutput:
    """Write ``site.toml`` and ``readings.parquet`` (a row group per tenant chunk) in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    site_file = out / "site.toml"
    site_file.write_text(site_toml(site), encoding="utf-8")
    readings_file = out / "readings.parquet"
    rows = 0
    with pq.ParquetWriter(readings_file, PARQUET_SCHEMA, compression="zstd") as writer:
        for part, load, pv in iter_chunks(base, plan, spec, chunk):
            table = readings_table(plan, part, load, pv, spec)
            writer.write_table(table, row_group_size=whole_meter_rows(spec))
            rows += table.num_rows
            if progress is not None:
                progress(part.stop - part.start)
    return SynthOutput(len(plan), rows, site_file, readings_file)


def write_store(
    base: BaseProfiles,
    plan: TenantPlan,
    spec: SynthSpec,
    site: Site,
    store: Store,
    chunk: int = 100,
    progress: ProgressFn | None = None,
) -> tuple[SynthOutput, WriteReport]:
    """Save the site and write its readings into ``store``, one batch per tenant chunk.

    Re-running with the same spec is idempotent (every row ``unchanged``).
    """
    store.save_site(site)
    report = WriteReport()
    rows = 0
    for part, load, pv in iter_chunks(base, plan, spec, chunk):
        table = readings_table(plan, part, load, pv, spec)
        report = report + store.write_readings(table, source=f"synth:{spec.site_id}")
        rows += table.num_rows
        if progress is not None:
            progress(part.stop - part.start)
    return SynthOutput(len(plan), rows), report
