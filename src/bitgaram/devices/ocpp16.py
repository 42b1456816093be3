"""OCPP 1.6J: one connected charge point, as the central system sees it.

The central system (:class:`~bitgaram.devices.ocpp_central.CentralSystem`) hands a
connection that negotiated the ``ocpp1.6`` subprotocol to :class:`Ocpp16Link`.

- **In**: BootNotification, Heartbeat, StatusNotification, Authorize, Start/StopTransaction and
  MeterValues (``Energy.Active.Import.Register`` in Wh or kWh, ``Power.Active.Import`` in W or
  kW, ``SoC`` in %). The central system numbers the transactions.
- **Out**: the default profile is a ``TxDefaultProfile`` on connector 0, a session's limit a
  ``TxProfile`` for its transaction, read back with GetCompositeSchedule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.exceptions import FormatViolationError
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import (
    Action,
    AuthorizationStatus,
    ChargePointErrorCode,
    ChargingProfileKindType,
    ChargingProfilePurposeType,
    ChargingProfileStatus,
    ChargingRateUnitType,
    RegistrationStatus,
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

#: Subprotocol of OCPP 1.6 over JSON.
SUBPROTOCOL = "ocpp1.6"


def _unit(sv: dict[str, Any]) -> tuple[str | None, int]:
    return sv.get("unit"), 0


def meter_samples(values: list[dict[str, Any]]) -> list[MeterSample]:
    """OCPP 1.6 ``meterValue`` entries as samples.

    Raises
    ------
    ValueError, KeyError, TypeError
        On a value that is not a finite number or an entry without its fields.
    """
    return samples_of(values, _unit)


class Ocpp16Link(CentralLinkCore, ChargePoint):  # type: ignore[misc]
    """One connected OCPP 1.6J charger, handled by the central system."""

    def __init__(self, cp_id: str, connection: ServerConnection, cs: CentralSystem) -> None:
        ChargePoint.__init__(self, cp_id, connection, response_timeout=cs.response_timeout_s)
        self._attach(cs)

    async def route_message(self, raw_msg: str) -> None:  # type: ignore[override]
        await self._timed_route(raw_msg, super().route_message)

    # -- the charger's calls --------------------------------------------------------
    @on(Action.boot_notification)
    def on_boot(self, charge_point_vendor: str, charge_point_model: str, **_: Any) -> Any:
        return call_result.BootNotification(
            current_time=now_utc().isoformat(),
            interval=int(self.cs.heartbeat_s),
            status=RegistrationStatus.accepted,
        )

    @after(Action.boot_notification)
    async def after_boot(self, **_: Any) -> None:
        self.booted = True
        self.cs.booted.add(self.id)
        await self.cs.configure(self.id)

    @on(Action.heartbeat)
    def on_heartbeat(self) -> Any:
        return call_result.Heartbeat(current_time=now_utc().isoformat())

    @on(Action.status_notification)
    def on_status(self, connector_id: int, error_code: str, status: str, **kw: Any) -> Any:
        if error_code != ChargePointErrorCode.no_error:
            self.cs.status[self.id].fault(f"connector {connector_id}: {error_code} ({status})")
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_tag: str) -> Any:
        return call_result.Authorize(id_tag_info={"status": AuthorizationStatus.accepted})

    @on(Action.start_transaction)
    def on_start(
        self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **_: Any
    ) -> Any:
        tx = self.cs.start_session(
            self.id, connector_id, id_tag, meter_start / 1000.0, parse_ts(timestamp)
        )
        return call_result.StartTransaction(
            transaction_id=int(tx), id_tag_info={"status": AuthorizationStatus.accepted}
        )

    @on(Action.stop_transaction)
    def on_stop(self, meter_stop: int, timestamp: str, transaction_id: int, **_: Any) -> Any:
        self.cs.stop_session(self.id, str(transaction_id), meter_stop / 1000.0, parse_ts(timestamp))
        return call_result.StopTransaction(id_tag_info={"status": AuthorizationStatus.accepted})

    @on(Action.meter_values)
    def on_meter_values(
        self, connector_id: int, meter_value: list[dict[str, Any]], **_: Any
    ) -> Any:
        try:
            samples = meter_samples(meter_value)
        except (ValueError, KeyError, TypeError) as exc:
            self.cs.stats.malformed += 1
            self.cs.status[self.id].fault(f"malformed MeterValues: {exc}")
            raise FormatViolationError(description=f"bad sampled value: {exc}") from exc
        self.cs.book_samples(self.id, self.cs.sessions.get(f"{self.id}.{connector_id}"), samples)
        return call_result.MeterValues()

    # -- the central system's calls (ChargerLink) -----------------------------------
    async def set_default_limit(self, kw: float) -> str | None:
        """A ``TxDefaultProfile`` of ``kw`` [kW] on connector 0 (all connectors)."""
        profile = {
            "charging_profile_id": DEFAULT_PROFILE_ID,
            "stack_level": 0,
            "charging_profile_purpose": ChargingProfilePurposeType.tx_default_profile,
            "charging_profile_kind": ChargingProfileKindType.relative,
            "charging_schedule": {
                "charging_rate_unit": ChargingRateUnitType.watts,
                "charging_schedule_period": [{"start_period": 0, "limit": kw * 1000}],
            },
        }
        res = await self.call(call.SetChargingProfile(0, profile), suppress=False)
        return None if res.status == ChargingProfileStatus.accepted else str(res.status)

    async def set_session_limit(self, session: OcppSession, kw: float) -> str | None:
        """A ``TxProfile`` of ``kw`` [kW] for the session's transaction, until its setpoint ends."""
        sp = session.last_setpoint
        assert sp is not None
        profile = {
            "charging_profile_id": TX_PROFILE_BASE + session.connector,
            "stack_level": 1,
            "charging_profile_purpose": ChargingProfilePurposeType.tx_profile,
            "charging_profile_kind": ChargingProfileKindType.absolute,
            "transaction_id": int(session.transaction_id),
            "valid_to": sp.valid_until.isoformat(),
            "charging_schedule": {
                "charging_rate_unit": ChargingRateUnitType.watts,
                "start_schedule": sp.valid_from.isoformat(),
                "charging_schedule_period": [{"start_period": 0, "limit": round(kw * 1000, 1)}],
            },
        }
        res = await self.call(call.SetChargingProfile(session.connector, profile), suppress=False)
        return None if res.status == ChargingProfileStatus.accepted else str(res.status)

    async def read_limit(self, session: OcppSession) -> float | None:
        """The first period of the connector's composite schedule [kW]."""
        res = await self.call(
            call.GetCompositeSchedule(session.connector, 60, ChargingRateUnitType.watts),
            suppress=False,
        )
        periods = (res.charging_schedule or {}).get("charging_schedule_period") or []
        return float(periods[0]["limit"]) / 1000.0 if periods else None
