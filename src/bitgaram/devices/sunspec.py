"""SunSpec register maps from pysunspec2's model definitions.

A SunSpec device lays out standard models one after the other from register 40000 (``SunS``
marker, then each model's ``ID`` and ``L`` registers and its points). :func:`sunspec_map` turns
the models a device holds, at their addresses, into the project's
:class:`~bitgaram.collect.modbus.RegisterMap`: one register per fixed point, named
``<model>.<point>`` (``123.WMaxLimPct``), writable where SunSpec says ``RW``, with the point's
scale-factor register (``sunssf``) as ``scale_factor``. The Modbus write path and the collector
then work on SunSpec devices unchanged, e.g. a PV inverter's export limit through model 123
(immediate controls: ``WMaxLimPct`` in % of ``WMax``, enabled by ``WMaxLim_Ena``) and its
output through model 103 (``W`` with ``W_SF``).

Points of repeating groups and text points (strings, addresses) are not mapped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sunspec2.device

from bitgaram.collect.modbus import Register, RegisterMap, RegisterType
from bitgaram.errors import ConfigError

#: Address of the ``SunS`` marker; the first model follows it.
SUNSPEC_BASE = 40000
#: The two registers of the ``SunS`` marker ("Su", "nS").
SUNS_MARKER = (0x5375, 0x6E53)

_TYPES = {
    "uint16": RegisterType.UINT16,
    "enum16": RegisterType.UINT16,
    "bitfield16": RegisterType.UINT16,
    "acc16": RegisterType.UINT16,
    "count": RegisterType.UINT16,
    "int16": RegisterType.INT16,
    "sunssf": RegisterType.INT16,
    "uint32": RegisterType.UINT32,
    "enum32": RegisterType.UINT32,
    "bitfield32": RegisterType.UINT32,
    "acc32": RegisterType.UINT32,
    "int32": RegisterType.INT32,
    "float32": RegisterType.FLOAT32,
    "uint64": RegisterType.UINT64,
    "acc64": RegisterType.UINT64,
    "int64": RegisterType.INT64,
    "float64": RegisterType.FLOAT64,
}


def model_length(model_id: int) -> int:
    """Registers of a model after its ``ID`` and ``L`` (the value of ``L``).

    Raises
    ------
    ConfigError
        If pysunspec2 does not know the model.
    """
    points = _points(model_id)
    return sum(int(p.get("size", 1)) for p in points) - 2


def _points(model_id: int) -> list[dict[str, Any]]:
    try:
        mdef = sunspec2.device.get_model_def(model_id)
    except Exception as exc:  # pysunspec2 raises bare Exceptions for unknown models
        raise ConfigError(f"SunSpec model {model_id} is not known to pysunspec2: {exc}") from exc
    return list(mdef["group"]["points"])


def sunspec_map(models: Mapping[int, int], name: str = "sunspec") -> RegisterMap:
    """A register map of SunSpec models placed at the given addresses.

    Parameters
    ----------
    models : mapping
        Model id -> address of its ``ID`` register (zero-based, on the wire).
    name : str
        Name of the map.

    Returns
    -------
    RegisterMap

    Examples
    --------
    >>> m = sunspec_map({123: 40002})
    >>> r = m.register("123.WMaxLimPct")
    >>> r.address, r.access, r.scale_factor
    (40007, 'rw', '123.WMaxLimPct_SF')
    """
    regs: list[Register] = []
    for model_id, start in models.items():
        offset = start
        for p in _points(model_id):
            size = int(p.get("size", 1))
            rtype = _TYPES.get(str(p["type"]))
            if rtype is not None and rtype.words == size:
                sf = p.get("sf")
                regs.append(
                    Register(
                        name=f"{model_id}.{p['name']}",
                        address=offset,
                        type=rtype,
                        unit=str(p.get("units") or ""),
                        access="rw" if p.get("access") == "RW" else "r",
                        scale_factor=f"{model_id}.{sf}" if isinstance(sf, str) else None,
                    )
                )
            offset += size
    return RegisterMap(name, tuple(regs), "big", "SunSpec models " + ", ".join(map(str, models)))


def layout(models: list[int]) -> dict[int, int]:
    """Addresses of models placed one after the other from the ``SunS`` marker.

    Examples
    --------
    >>> layout([103, 123])
    {103: 40002, 123: 40054}
    """
    out: dict[int, int] = {}
    address = SUNSPEC_BASE + len(SUNS_MARKER)
    for m in models:
        out[m] = address
        address += 2 + model_length(m)
    return out
