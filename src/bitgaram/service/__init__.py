"""Running the park unattended: one supervised service, metrics, structured logs.

- :mod:`~bitgaram.service.config`: the site file's ``[service]`` section;
- :mod:`~bitgaram.service.supervisor`: components restarted with back-off, drained on stop;
- :mod:`~bitgaram.service.components`: the collector, the control loop, the web API;
- :mod:`~bitgaram.service.metrics`: Prometheus metrics (prometheus-client);
- :mod:`~bitgaram.service.logs`: one JSON event per line (structlog), secrets masked;
- :mod:`~bitgaram.service.run`: ``bitgaram run`` and its admin port;
- :mod:`~bitgaram.service.export`: a tenant's data in open formats;
- :mod:`~bitgaram.service.deploy`: systemd units for a park's machines.
"""
