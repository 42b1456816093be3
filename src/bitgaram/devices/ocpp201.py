"""OCPP 2.0.1: one connected charging station, as the central system (CSMS) sees it.

The central system (:class:`~bitgaram.devices.ocpp_central.CentralSystem`) hands a
connection that negotiated the ``ocpp2.0.1`` subprotocol to :class:`Ocpp201Link`.

- **In**: BootNotification, Heartbeat, StatusNotification (a ``Faulted`` connector is a
  fault in the station's status), Authorize, TransactionEvent and MeterValues
  (``Energy.Active.Import.Register`` in Wh or kWh, ``Power.Active.Import`` in W or kW, each
  with its ``unitOfMeasure`` multiplier, ``SoC`` in %). A transaction is the station's: its
  ``transactionId`` (a string) and its EVSE make the session ``<cp>.<evse id>``. A
  transaction first seen in an ``Updated`` event (the central system restarted under it) is
  adopted from the first event that names its EVSE (until then it is metered, not planned,
  and the station's status says so); an id token that arrives after the start (plug in,
  then badge) binds the session to its vehicle then. The register at the start is the
  ``Started`` event's energy sample, else the first one that follows.
- **Out**: the default profile is a ``TxDefaultProfile`` on EVSE 0 (all EVSEs), a session's
  limit a ``TxProfile`` for its transaction on its EVSE, read back with GetCompositeSchedule.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import FormatViolationError
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import (
    Action,
    AuthorizationStatusEnumType,
    ChargingProfileKindEnumType,
    ChargingProfilePurposeEnumType,
    ChargingProfileStatusEnumType,
    ChargingRateUnitEnumType,
    ConnectorStatusEnumType,
    GenericStatusEnumType,
    RegistrationStatusEnumType,
    TransactionEventEnumType,
)
from websockets.asyncio.server import ServerConnection

from bitgaram.devices.ocpp_session import (
    DEFAULT_PROFILE_ID,
    TX_PROFILE_BASE,
    CentralLinkCore,
    MeterSample,
    OcppSession,
    now_utc,
    parse_ts,
    samples_of,
)

if TYPE_CHECKING:
    from bitgaram.devices.ocpp_central import CentralSystem

#: Subprotocol of OCPP 2.0.1 over JSON.
SUBPROTOCOL = "ocpp2.0.1"

_ACCEPTED = {"status": AuthorizationStatusEnumType.accepted}


def _unit(sv: dict[str, Any]) -> tuple[str | None, int]:
    unit = sv.get("unit_of_measure") or {}
    return unit.get("unit"), int(unit.get("multiplier", 0))


def meter_samples(values: list[dict[str, Any]]) -> list[MeterSample]:
    """OCPP 2.0.1 ``meterValue`` entries as samples.

    Raises
    ------
    ValueError, KeyError, TypeError
        On a value that is not a finite number or an entry without its fields.
    """
    return samples_of(values, _unit)


class Ocpp201Link(CentralLinkCore, ChargePoint):  # type: ignore[misc]
    """One connected OCPP 2.0.1 charging station, handled by the central system."""

    def __init__(self, cp_id: str, connection: ServerConnection, cs: CentralSystem) -> None:
        ChargePoint.__init__(self, cp_id, connection, response_timeout=cs.response_timeout_s)
        self._attach(cs)

    async def route_message(self, raw_msg: str) -> None:  # type: ignore[override]
        await self._timed_route(raw_msg, super().route_message)

    def _samples(self, values: list[dict[str, Any]] | None) -> list[MeterSample]:
        try:
            return meter_samples(values or [])
        except (ValueError, KeyError, TypeError) as exc:
            self.cs.stats.malformed += 1
            self.cs.status[self.id].fault(f"malformed meter value: {exc}")
            raise FormatViolationError(description=f"bad sampled value: {exc}") from exc

    # -- the station's calls --------------------------------------------------------
    @on(Action.boot_notification)
    def on_boot(self, charging_station: dict[str, Any], reason: str, **_: Any) -> Any:
        return call_result.BootNotification(
            current_time=now_utc().isoformat(),
            interval=int(self.cs.heartbeat_s),
            status=RegistrationStatusEnumType.accepted,
        )

    @after(Action.boot_notification)
    async def after_boot(self, **_: Any) -> None:
        self.booted = True
        self.cs.booted.add(self.id)
        await self.cs.configure(self.id)

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> Any:
        return call_result.Heartbeat(current_time=now_utc().isoformat())

    @on(Action.status_notification)
    def on_status(
        self, timestamp: str, connector_status: str, evse_id: int, connector_id: int, **_: Any
    ) -> Any:
        if connector_status == ConnectorStatusEnumType.faulted:
            self.cs.status[self.id].fault(f"EVSE {evse_id} connector {connector_id}: Faulted")
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_token: dict[str, Any], **_: Any) -> Any:
        return call_result.Authorize(id_token_info=_ACCEPTED)

    @on(Action.transaction_event)
    def on_transaction_event(
        self,
        event_type: str,
        timestamp: str,
        trigger_reason: str,
        seq_no: int,
        transaction_info: dict[str, Any],
        meter_value: list[dict[str, Any]] | None = None,
        evse: dict[str, Any] | None = None,
        id_token: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        samples = self._samples(meter_value)
        tx = str(transaction_info["transaction_id"])
        tag = str(id_token["id_token"]) if id_token else ""
        session = self.cs.session_of(self.id, tx)
        if session is None and event_type != TransactionEventEnumType.ended:
            if evse is None:
                # Valid OCPP, but the session cannot be placed: metered, not planned.
                self.cs.status[self.id].fault(
                    f"transaction {tx}: no event has named its EVSE yet; not planned"
                )
            else:
                start = next((m.energy_kwh for m in samples if m.energy_kwh is not None), math.nan)
                ts = parse_ts(timestamp)
                self.cs.start_session(self.id, int(evse["id"]), tag, start, ts, tx)
                session = self.cs.session_of(self.id, tx)
        elif session is not None and tag and tag != session.id_tag:
            self.cs.authorise(session, tag)
        self.cs.book_samples(self.id, session, samples)
        if event_type == TransactionEventEnumType.ended:
            self.cs.stop_session(self.id, tx, None, parse_ts(timestamp))
        return call_result.TransactionEvent(id_token_info=_ACCEPTED if id_token else None)

    @on(Action.meter_values)
    def on_meter_values(self, evse_id: int, meter_value: list[dict[str, Any]], **_: Any) -> Any:
        samples = self._samples(meter_value)
        self.cs.book_samples(self.id, self.cs.sessions.get(f"{self.id}.{evse_id}"), samples)
        return call_result.MeterValues()

    # -- the central system's calls (ChargerLink) -----------------------------------
    async def set_default_limit(self, kw: float) -> str | None:
        """A ``TxDefaultProfile`` of ``kw`` [kW] on EVSE 0 (all EVSEs)."""
        profile = {
            "id": DEFAULT_PROFILE_ID,
            "stack_level": 0,
            "charging_profile_purpose": ChargingProfilePurposeEnumType.tx_default_profile,
            "charging_profile_kind": ChargingProfileKindEnumType.relative,
            "charging_schedule": [
                {
                    "id": DEFAULT_PROFILE_ID,
                    "charging_rate_unit": ChargingRateUnitEnumType.watts,
                    "charging_schedule_period": [{"start_period": 0, "limit": kw * 1000}],
                }
            ],
        }
        res = await self.call(call.SetChargingProfile(0, profile), suppress=False)
        return None if res.status == ChargingProfileStatusEnumType.accepted else str(res.status)

    async def set_session_limit(self, session: OcppSession, kw: float) -> str | None:
        """A ``TxProfile`` of ``kw`` [kW] for the session's transaction, until its setpoint ends."""
        sp = session.last_setpoint
        assert sp is not None
        pid = TX_PROFILE_BASE + session.connector
        profile = {
            "id": pid,
            "stack_level": 1,
            "charging_profile_purpose": ChargingProfilePurposeEnumType.tx_profile,
            "charging_profile_kind": ChargingProfileKindEnumType.absolute,
            "transaction_id": session.transaction_id,
            "valid_to": sp.valid_until.isoformat(),
            "charging_schedule": [
                {
                    "id": pid,
                    "charging_rate_unit": ChargingRateUnitEnumType.watts,
                    "start_schedule": sp.valid_from.isoformat(),
                    "charging_schedule_period": [{"start_period": 0, "limit": round(kw * 1000, 1)}],
                }
            ],
        }
        res = await self.call(call.SetChargingProfile(session.connector, profile), suppress=False)
        return None if res.status == ChargingProfileStatusEnumType.accepted else str(res.status)

    async def read_limit(self, session: OcppSession) -> float | None:
        """The first period of the EVSE's composite schedule [kW]."""
        res = await self.call(
            call.GetCompositeSchedule(60, session.connector, ChargingRateUnitEnumType.watts),
            suppress=False,
        )
        if res.status != GenericStatusEnumType.accepted:
            return None
        periods = (res.schedule or {}).get("charging_schedule_period") or []
        return float(periods[0]["limit"]) / 1000.0 if periods else None
