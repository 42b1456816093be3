"""Device links: the control loop's setpoints delivered to real equipment, confirmed there.

Adapters at the edge, one module per protocol, each taking the same
:class:`~bitgaram.control.setpoints.Setpoint` the control loop produces and reporting what the
device actually did (:class:`~bitgaram.devices.status.Confirmation`):

- :mod:`~bitgaram.devices.ocpp16`: an OCPP 1.6J central system for EV chargers;
- :mod:`~bitgaram.devices.modbus_write`: the Modbus TCP write path for PCS and PV inverters;
- :mod:`~bitgaram.devices.openadr_ven`: an OpenADR 2.0b VEN receiving demand-response events;
- :mod:`~bitgaram.devices.service`: all of them for one site (``bitgaram devices run``);
- :mod:`~bitgaram.devices.sim`: simulated peers on the same protocol packages (tests, benches).
"""
