"""Team arenas: the teams the administrator keeps (``keep``) and what their members work on,
referred cases and questions without a case, minutes and follow-ups (``agenda``)."""

from bti.services.teams import agenda
from bti.services.teams import keep

__all__ = ["agenda", "keep"]
