"""`peakline demo`: the whole platform on one machine, from one command.

plan.py        options and the config rewired for this run (pure)
broker.py      the embedded MQTT broker (amqtt)
api_server.py  uvicorn inside our loop, optional TLS
services.py    firmware-sim, ingest, edge agents and the API, each an async lifetime
stack.py       start order, stop order, the broker tap and the store/API probe
status.py      the live terminal display
command.py     the typer command and exit codes
"""

from peakline_cli.demo.command import demo_command

__all__ = ["demo_command"]
