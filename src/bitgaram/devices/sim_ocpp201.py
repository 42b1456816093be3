"""A simulated OCPP 2.0.1 charging station, for tests, benches and demonstrations.

:class:`SimStation` is built on ``ocpp``'s 2.0.1 ChargePoint class over a real websocket,
one EVSE with one connector. It honours charging profiles the way stations do: a valid
TxProfile for its transaction first, else the TxDefaultProfile, else its own maximum; it
names its own transactions (a UUID), reports energy in Wh with the ``unitOfMeasure``
multiplier it is given, keeps charging while disconnected and reports the meter when back.
Energy runs ``speed`` times faster than the wall clock (1: real time).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pandas as pd
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import (
    Action,
    BootReasonEnumType,
    ChargingProfileStatusEnumType,
    ClearChargingProfileStatusEnumType,
    ConnectorStatusEnumType,
    GenericStatusEnumType,
    IdTokenEnumType,
    TransactionEventEnumType,
    TriggerReasonEnumType,
)

from bitgaram.devices.sim import ChargerSimCore

#: The station's only EVSE and connector.
EVSE = 1


class SimStation(ChargerSimCore, ChargePoint):  # type: ignore[misc]
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
        ChargePoint.__init__(self, cp_id, None, response_timeout=10)
        self._setup(url, max_kw, meter_interval_s, speed)
        self.energy_multiplier = energy_multiplier
        self._seq = 0

    subprotocol = "ocpp2.0.1"

    # -- connection -----------------------------------------------------------------
    async def connect(self, boot: bool = True, subprotocol: str | None = None) -> None:
        """Open the websocket (and boot); ``subprotocol`` overrides ``ocpp2.0.1`` (tests)."""
        await self._open(subprotocol)
        if boot:
            station = {"vendor_name": "sim", "model": "bitgaram"}
            await self.call(call.BootNotification(station, BootReasonEnumType.power_up))
            await self.status(ConnectorStatusEnumType.available)

    def _heartbeat(self) -> Any:
        return call.Heartbeat()

    async def status(self, status: ConnectorStatusEnumType) -> None:
        """StatusNotification of the connector."""
        await self.call(call.StatusNotification(_iso(), status, EVSE, 1))

    # -- behaviour ------------------------------------------------------------------
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
        self.tx = str(uuid.uuid4())
        early_tag = id_tag if badge_after_s <= 0 else None
        started = (
            TriggerReasonEnumType.authorized
            if early_tag
            else TriggerReasonEnumType.cable_plugged_in
        )
        await self.event(TransactionEventEnumType.started, started, early_tag, "Transaction.Begin")
        await self.status(ConnectorStatusEnumType.occupied)
        t_badge = [time.monotonic() + badge_after_s] if id_tag and badge_after_s > 0 else []

        async def report(now: float) -> None:
            if t_badge and now >= t_badge[0]:
                t_badge.clear()
                authorized = TriggerReasonEnumType.authorized
                await self.event(TransactionEventEnumType.updated, authorized, id_tag)
            else:
                await self.meter_values()

        start = await self._deliver(needed_kwh, ev_kw, max_s, report)
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
        if not self._take_profile(p, p["charging_schedule"][0]):
            return call_result.SetChargingProfile(ChargingProfileStatusEnumType.rejected)
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
