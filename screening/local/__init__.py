"""The local screener (see :mod:`screening.local.screener`)."""

from screening.local.scoring import FLAG_INJECTION, WEIGHTS
from screening.local.screener import MODEL_VERSION, LocalScreener

__all__ = ["FLAG_INJECTION", "MODEL_VERSION", "WEIGHTS", "LocalScreener"]
