"""The live control loop: state in, plan, setpoints out, with a safe fallback and a replay.

- :mod:`~bitgaram.control.state`: what the loop reads each interval (SoC, vehicles, jobs, load).
- :mod:`~bitgaram.control.setpoints`: setpoints per asset with their validity period (JSON).
- :mod:`~bitgaram.control.safe`: the documented safe setpoints.
- :mod:`~bitgaram.control.planner`: the park MPC (:func:`bitgaram.optimize.park.solve_park`).
- :mod:`~bitgaram.control.loop`: the loop core (peak watch, actions, fallback); no I/O of its own.
- :mod:`~bitgaram.control.journal`: the alert and plan timeline in the store.
- :mod:`~bitgaram.control.mqtt_link`: MQTT in and out (paho 2, MQTT 5).
- :mod:`~bitgaram.control.replay`: drive the loop from stored history at accelerated speed.
"""
