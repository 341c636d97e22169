"""The context every service takes first: session, actor, workflows and clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import date
from datetime import datetime

from sqlalchemy.orm import Session

from bti.domain.clock import OSLO  # noqa: F401 - kept importable; the home is bti.domain.clock
from bti.domain.clock import local_date
from bti.domain.org import Actor
from bti.domain.org import User
from bti.services.accounts.secretbox import SecretBox
from bti.services.workflows.registry import WorkflowRegistry


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Ctx:
    session: Session
    actor: Actor
    workflows: WorkflowRegistry
    now: Callable[[], datetime] = field(default=utcnow)
    request_id: str | None = None
    #: Opens and seals secrets stored in the database (``bti.services.accounts.secretbox``); only
    #: the second factor needs it.
    secrets: SecretBox | None = None

    def __post_init__(self) -> None:
        if isinstance(self.actor, User):  # tests and the CLI pass an ORM user
            self.actor = self.actor.as_actor()

    @classmethod
    def system(cls, session: Session, *, actor: Actor | None = None,
               workflows: WorkflowRegistry | None = None,
               now: Callable[[], datetime] = utcnow, request_id: str | None = None) -> Ctx:
        """A context for work no signed-in user does (the CLI, jobs, sign-in and sign-out):
        ``actor`` and ``workflows`` may be None there, and only the services written for it
        (the audit record, the archive, the consent warnings) take such a context."""
        return cls(session=session, actor=actor,  # type: ignore[arg-type]  # None: see above
                   workflows=workflows,  # type: ignore[arg-type]
                   now=now, request_id=request_id)

    def today(self) -> date:
        """Today's date in Norway (deadlines and consent dates are local dates)."""
        return local_date(self.now())
