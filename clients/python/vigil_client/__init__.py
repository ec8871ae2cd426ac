"""Vigil heartbeats that never hurt the job: ``vigil run`` and ``monitor``.

``monitor`` is a context manager and a decorator; ``Pinger`` sends single pings within a
bounded time; ``run_command`` is what ``vigil run`` does.
"""

from vigil_client.monitor import Monitor, monitor
from vigil_client.pinger import BadPingUrl, Pinger
from vigil_client.runner import run_command

__all__ = ["BadPingUrl", "Monitor", "Pinger", "monitor", "run_command"]
