"""The main process of a worker pool: Dramatiq's CLI, logging JSON lines and dying with its
supervisor.

``python -m ops.pool_process tasks.workers --processes N --threads T --queues POOL`` is what
``pvara worker`` execs and ``pvara workers`` / ``pvara up`` start. Dramatiq's own main process
would log plain text; here it logs through the PII-masking JSON formatter like every other
process (its worker processes switch in ``tasks.middleware.PoolStats``), and it asks for
SIGTERM when its supervisor dies. Its worker processes ask the same of it
(``tasks.middleware.DieWithParent``).
"""

from __future__ import annotations

import sys

from dramatiq import cli

from core.logs import configure_logging
from core.settings import get_settings
from ops.lifecycle import die_with_supervisor


def main(argv: list[str]) -> int:
    die_with_supervisor()
    configure_logging(get_settings().log_level)
    args = cli.make_argument_parser().parse_args(["--skip-logging", *argv])  # type: ignore[no-untyped-call]
    return int(cli.main(args) or 0)  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
