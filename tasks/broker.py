"""The process's Dramatiq broker. Import this before declaring or sending actors."""

from __future__ import annotations

import dramatiq

from core.queue import create_broker
from core.settings import get_settings
from tasks.middleware import PoolStats
from tasks.sandbox import WarmSandbox

broker = create_broker(get_settings())
broker.add_middleware(PoolStats(get_settings()))
broker.add_middleware(WarmSandbox())
dramatiq.set_broker(broker)
