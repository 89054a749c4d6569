"""The offline simulated exchange ``sim``: deterministic markets, no network."""

from .backend import SimBackend
from .clock import Clock, ManualClock, SystemClock
from .gateway import SimGateway
from .options import SimOptions

__all__ = ["Clock", "ManualClock", "SimBackend", "SimGateway", "SimOptions", "SystemClock"]
