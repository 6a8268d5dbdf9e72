"""The process's Dramatiq broker. Import this before declaring or sending actors."""

from __future__ import annotations

import dramatiq
from dramatiq.middleware import Retries, default_middleware

from core.queue import create_broker
from core.settings import get_settings
from tasks.middleware import DieWithParent, OutageRetries, PoolStats
from tasks.sandbox import WarmSandbox

_settings = get_settings()
broker = create_broker(
    _settings,
    # Dramatiq's defaults, with retries that do not count outages.
    middleware=[OutageRetries(_settings) if m is Retries else m() for m in default_middleware],
)
broker.add_middleware(PoolStats(_settings))
broker.add_middleware(DieWithParent())
broker.add_middleware(WarmSandbox())
dramatiq.set_broker(broker)
