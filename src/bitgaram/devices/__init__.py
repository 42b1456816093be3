"""Device links: the control loop's setpoints delivered to real equipment, confirmed there.

Adapters at the edge, one module per protocol, each taking the same
:class:`~bitgaram.control.setpoints.Setpoint` the control loop produces and reporting what the
device actually did (:class:`~bitgaram.devices.status.Confirmation`):

- :mod:`~bitgaram.devices.ocpp_central`: the OCPP central system for EV chargers, speaking
  OCPP 1.6J (:mod:`~bitgaram.devices.ocpp16`) and 2.0.1 (:mod:`~bitgaram.devices.ocpp201`) on
  one port, each charger the version its registry entry gives;
- :mod:`~bitgaram.devices.modbus_write`: the Modbus TCP write path for PCS and PV inverters;
- :mod:`~bitgaram.devices.openadr_ven`: an OpenADR 2.0b VEN receiving demand-response events;
- :mod:`~bitgaram.devices.service`: all of them for one site (``bitgaram devices run``);
- :mod:`~bitgaram.devices.sim`, :mod:`~bitgaram.devices.sim_ocpp201`: simulated peers on the
  same protocol packages (tests, benches).

The registry is the site file's ``[[devices]]`` (:mod:`bitgaram.site.model`)::

    [[devices]]                       # an EV charger; it connects to ws://<host>:9000/CP01
    id = "CP01"
    protocol = "ocpp1.6"              # or "ocpp2.0.1"
    asset = "depot"                   # an ev_charger asset
    max_kw = 22
    safe_kw = 7                       # its default profile, kept when the link is lost
    meter = "depot-energy"            # MeterValues stored as this meter's readings

    [[devices]]                       # the ESS's PCS
    id = "pcs1"
    protocol = "modbus"
    asset = "park-ess"
    host = "10.0.0.7"
    model = "generic-pcs"             # register map (collect/registers/) or "sunspec:103,123"
    setpoint = "power_setpoint"
    measured = "active_power"
    soc = "soc"
    safe_kw = 0                       # written when the plan expires
    renew_s = 30                      # no watchdog in the PCS: the setpoint is renewed

    [[devices]]                       # demand response
    id = "kpx"
    protocol = "openadr2.0b"
    asset = "park"
    vtn_url = "https://vtn.example/OpenADR2/Simple/2.0b"
    ven_name = "cheomdan-park"
    min_target_kw = 1500
"""
