"""A simulated OCPP 2.0.1 charging station, for tests, benches and demonstrations.

:class:`SimStation` is built on ``ocpp``'s 2.0.1 ChargePoint class over a real websocket,
one EVSE with one connector. It honours charging profiles the way stations do: a valid
TxProfile for its transaction first, else the TxDefaultProfile, else its own maximum; it
names its own transactions (a UUID), reports energy in Wh with the ``unitOfMeasure``
multiplier it is given, keeps charging while disconnected and reports the meter when back.
Energy runs ``speed`` times faster than the wall clock (1: real time).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pandas as pd
import websockets
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import (
    Action,
    BootReasonEnumType,
    ChargingProfilePurposeEnumType,
    ChargingProfileStatusEnumType,
    ClearChargingProfileStatusEnumType,
    ConnectorStatusEnumType,
    GenericStatusEnumType,
    IdTokenEnumType,
    TransactionEventEnumType,
    TriggerReasonEnumType,
)

#: The station's only EVSE and connector.
EVSE = 1


@dataclass
class _Profile:
    limit_kw: float
    valid_to: pd.Timestamp | None
    tx: str | None


class SimStation(ChargePoint):  # type: ignore[misc]
    """A simulated OCPP 2.0.1 charging station with one EVSE.

    Parameters
    ----------
    cp_id : str
    url : str
        Central system base URL (``ws://127.0.0.1:9000``); the id is appended.
    max_kw : float
        Hardware limit [kW].
    meter_interval_s : float
        Wall-clock seconds between meter values.
    speed : float
        Simulated seconds per wall-clock second.
    energy_multiplier : int
        Power of ten of the energy register it reports (0: Wh, 3: kWh as ``Wh`` x 10^3).
    """

    def __init__(
        self,
        cp_id: str,
        url: str,
        max_kw: float,
        meter_interval_s: float = 1.0,
        speed: float = 1.0,
        energy_multiplier: int = 0,
    ) -> None:
        super().__init__(cp_id, None, response_timeout=10)
        self.url, self.max_kw = url.rstrip("/"), max_kw
        self.meter_interval_s, self.speed = meter_interval_s, speed
        self.energy_multiplier = energy_multiplier
        self.profiles: dict[str, _Profile] = {}
        self.register_wh = 0.0
        self.power_kw = 0.0
        self.tx: str | None = None
        self.online = False
        self.sent = 0
        self._seq = 0
        self._reader: asyncio.Task[None] | None = None
        self._ws: Any = None

    # -- connection -----------------------------------------------------------------
    async def connect(self, boot: bool = True, subprotocol: str = "ocpp2.0.1") -> None:
        """Open the websocket (and boot)."""
        self._ws = await websockets.connect(
            f"{self.url}/{self.id}",
            subprotocols=[subprotocol],  # type: ignore[list-item]
        )
        self._connection = self._ws
        self._response_queue: asyncio.Queue[Any] = asyncio.Queue()
        self._reader = asyncio.ensure_future(self._read())
        self.online = True
        if boot:
            station = {"vendor_name": "sim", "model": "bitgaram"}
            await self.call(call.BootNotification(station, BootReasonEnumType.power_up))
            await self.status(ConnectorStatusEnumType.available)

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.start()
        self.online = False

    async def disconnect(self) -> None:
        """Drop the connection (the station keeps charging on its own)."""
        self.online = False
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def heartbeats(self, interval_s: float) -> None:
        """Send a Heartbeat every ``interval_s`` [s] while online (until cancelled)."""
        while True:
            await asyncio.sleep(interval_s)
            if self.online:
                with contextlib.suppress(Exception):
                    await self.call(call.Heartbeat())
                    self.sent += 1

    async def status(self, status: ConnectorStatusEnumType) -> None:
        """StatusNotification of the connector."""
        await self.call(call.StatusNotification(_iso(), status, EVSE, 1))

    # -- behaviour ------------------------------------------------------------------
    def limit_kw(self, now: pd.Timestamp | None = None) -> float:
        """The limit in force: valid TxProfile, else default profile, else ``max_kw``."""
        now = now or pd.Timestamp.now(tz="UTC")
        for purpose in ("TxProfile", "TxDefaultProfile"):
            p = self.profiles.get(purpose)
            if p is None or (p.valid_to is not None and p.valid_to <= now):
                continue
            if purpose == "TxProfile" and p.tx is not None and p.tx != self.tx:
                continue
            return min(p.limit_kw, self.max_kw)
        return self.max_kw

    def _meter(self, context: str = "Sample.Periodic") -> list[dict[str, Any]]:
        scale = 10.0**self.energy_multiplier
        return [
            {
                "timestamp": _iso(),
                "sampled_value": [
                    {
                        "value": round(self.register_wh / scale, 4),
                        "measurand": "Energy.Active.Import.Register",
                        "context": context,
                        "unit_of_measure": {"unit": "Wh", "multiplier": self.energy_multiplier},
                    },
                    {
                        "value": round(self.power_kw * 1000, 1),
                        "measurand": "Power.Active.Import",
                        "context": context,
                        "unit_of_measure": {"unit": "W"},
                    },
                ],
            }
        ]

    async def event(
        self,
        kind: TransactionEventEnumType,
        trigger: TriggerReasonEnumType,
        id_tag: str | None = None,
        context: str = "Sample.Periodic",
        with_evse: bool | None = None,
    ) -> Any:
        """Send a TransactionEvent of the current transaction with the meter now.

        The EVSE is named in ``Started`` events unless ``with_evse`` says otherwise.
        """
        if with_evse is None:
            with_evse = kind == TransactionEventEnumType.started
        self._seq += 1
        token = {"id_token": id_tag, "type": IdTokenEnumType.iso14443} if id_tag else None
        return await self.call(
            call.TransactionEvent(
                event_type=kind,
                timestamp=_iso(),
                trigger_reason=trigger,
                seq_no=self._seq,
                transaction_info={"transaction_id": self.tx},
                meter_value=self._meter(context),
                evse={"id": EVSE, "connector_id": 1} if with_evse else None,
                id_token=token,
            )
        )

    async def charge(
        self,
        id_tag: str | None,
        needed_kwh: float,
        ev_kw: float | None = None,
        max_s: float = 1e9,
        badge_after_s: float = 0.0,
    ) -> float:
        """Run one session until the vehicle has ``needed_kwh``; returns the energy [kWh].

        With ``badge_after_s`` > 0 the transaction starts when the cable is plugged in and
        the id token follows that many seconds later (as an ``Updated`` event).
        """
        start = self.register_wh
        self.tx = str(uuid.uuid4())
        early_tag = id_tag if badge_after_s <= 0 else None
        started = (
            TriggerReasonEnumType.authorized
            if early_tag
            else TriggerReasonEnumType.cable_plugged_in
        )
        await self.event(TransactionEventEnumType.started, started, early_tag, "Transaction.Begin")
        await self.status(ConnectorStatusEnumType.occupied)
        t_last = time.monotonic()
        t_badge = t_last + badge_after_s if id_tag and badge_after_s > 0 else None
        t_end = t_last + max_s
        while (self.register_wh - start) / 1000.0 < needed_kwh and time.monotonic() < t_end:
            await asyncio.sleep(self.meter_interval_s)
            now = time.monotonic()
            self.power_kw = min(self.limit_kw(), ev_kw if ev_kw is not None else self.max_kw)
            left_wh = needed_kwh * 1000.0 - (self.register_wh - start)
            self.register_wh += min(self.power_kw * (now - t_last) * self.speed / 3.6, left_wh)
            t_last = now
            if not self.online:
                continue
            with contextlib.suppress(Exception):
                if t_badge is not None and now >= t_badge:
                    t_badge = None
                    await self.event(
                        TransactionEventEnumType.updated, TriggerReasonEnumType.authorized, id_tag
                    )
                else:
                    await self.meter_values()
        self.power_kw = 0.0
        if self.online:
            await self.event(
                TransactionEventEnumType.ended,
                TriggerReasonEnumType.ev_departed,
                context="Transaction.End",
            )
            await self.status(ConnectorStatusEnumType.available)
        self.tx = None
        return (self.register_wh - start) / 1000.0

    async def meter_values(self) -> None:
        """Send the register and the power now (MeterValues of the EVSE)."""
        await self.call(call.MeterValues(EVSE, self._meter()))
        self.sent += 1

    # -- central system's calls -----------------------------------------------------
    @on(Action.set_charging_profile)
    def on_set_profile(self, evse_id: int, charging_profile: dict[str, Any], **_: Any) -> Any:
        p = charging_profile
        purpose = p["charging_profile_purpose"]
        if purpose not in (
            ChargingProfilePurposeEnumType.tx_profile,
            ChargingProfilePurposeEnumType.tx_default_profile,
        ):
            return call_result.SetChargingProfile(ChargingProfileStatusEnumType.rejected)
        periods = p["charging_schedule"][0]["charging_schedule_period"]
        limit = float(periods[0]["limit"]) / 1000.0
        valid_to = pd.Timestamp(p["valid_to"]) if p.get("valid_to") else None
        self.profiles[purpose] = _Profile(limit, valid_to, p.get("transaction_id"))
        return call_result.SetChargingProfile(ChargingProfileStatusEnumType.accepted)

    @on(Action.get_composite_schedule)
    def on_composite(self, duration: int, evse_id: int, **_: Any) -> Any:
        schedule = {
            "evse_id": evse_id,
            "duration": duration,
            "schedule_start": _iso(),
            "charging_rate_unit": "W",
            "charging_schedule_period": [{"start_period": 0, "limit": self.limit_kw() * 1000}],
        }
        return call_result.GetCompositeSchedule(GenericStatusEnumType.accepted, schedule=schedule)

    @on(Action.clear_charging_profile)
    def on_clear(self, **_: Any) -> Any:
        self.profiles.pop("TxProfile", None)
        return call_result.ClearChargingProfile(ClearChargingProfileStatusEnumType.accepted)


def _iso() -> str:
    return pd.Timestamp.now(tz="UTC").isoformat()
