"""Workflow versions: files in ``workflows/`` are stored as revisions; cases keep theirs.

``WorkflowRegistry`` builds each ``Workflow`` (and its state machine) once per stored revision
and shares it between requests and threads; the engine's firing path mutates nothing shared.
"""

from __future__ import annotations

import threading
from datetime import UTC
from datetime import datetime
from pathlib import Path

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bti.domain.log import WorkflowDefinitionRecord
from bti.domain.vocabulary import vocabulary
from bti.engine import Vocabulary
from bti.engine import Workflow
from bti.engine import WorkflowDefinition
from bti.engine import load_directory
from bti.engine import load_text

#: Workflows built in this process, by source hash: a definition is immutable and a Workflow
#: shares nothing mutable, so every registry (one per app) reuses the same machines.
_BUILT: dict[str, Workflow] = {}
_BUILT_LOCK = threading.Lock()


def _build(definition: WorkflowDefinition) -> Workflow:
    with _BUILT_LOCK:
        workflow = _BUILT.get(definition.source_sha256)
        if workflow is None or workflow.definition is not definition:
            workflow = _BUILT[definition.source_sha256] = Workflow(definition)
        return workflow


class WorkflowRegistry:
    def __init__(self, directory: Path, vocab: Vocabulary | None = None) -> None:
        self.directory = Path(directory)
        self.vocab = vocab or vocabulary()
        #: The files as they are now (raises DefinitionError on any invalid file).
        self.files: dict[str, WorkflowDefinition] = load_directory(self.directory, self.vocab)
        self._by_sha: dict[str, Workflow] = {
            d.source_sha256: _build(d) for d in self.files.values()
        }
        self._record_sha: dict[int, str] = {}
        self._current: dict[str, int] = {}
        self._lock = threading.Lock()

    def ids(self) -> list[str]:
        return sorted(self.files)

    def sync(self, session: Session) -> dict[str, int]:
        """Store every file whose content is new as the next revision of its workflow. Returns
        workflow id → id of the stored record new cases start on. Idempotent."""
        current: dict[str, int] = {}
        for wf_id, definition in sorted(self.files.items()):
            current[wf_id] = self._store(session, definition)
        with self._lock:
            self._current.update(current)
        return current

    def _store(self, session: Session, definition: WorkflowDefinition) -> int:
        sha = definition.source_sha256
        rec = session.scalar(select(WorkflowDefinitionRecord).where(
            WorkflowDefinitionRecord.sha256 == sha))
        if rec is None:
            last = session.scalar(
                select(func.max(WorkflowDefinitionRecord.revision)).where(
                    WorkflowDefinitionRecord.workflow_id == definition.id)
            )
            rec = WorkflowDefinitionRecord(
                workflow_id=definition.id,
                revision=(last or 0) + 1,
                file_version=definition.version,
                sha256=sha,
                source=definition.source,
                created_at=datetime.now(UTC),
            )
            try:
                with session.begin_nested():
                    session.add(rec)
            except IntegrityError:  # another process stored it first
                rec = session.scalar(select(WorkflowDefinitionRecord).where(
                    WorkflowDefinitionRecord.sha256 == sha))
                if rec is None:
                    raise
        with self._lock:
            self._record_sha[rec.id] = sha
        return rec.id

    def current_record_id(self, session: Session, workflow_id: str) -> int:
        rec_id = self._current.get(workflow_id)
        if rec_id is None:
            if workflow_id not in self.files:
                raise KeyError(workflow_id)
            rec_id = self._store(session, self.files[workflow_id])
            with self._lock:
                self._current[workflow_id] = rec_id
        return rec_id

    def for_record(self, session: Session, record_id: int) -> Workflow:
        """The workflow a case runs on, built once per stored revision."""
        sha = self._record_sha.get(record_id)
        if sha is not None and sha in self._by_sha:
            return self._by_sha[sha]
        rec = session.get(WorkflowDefinitionRecord, record_id)
        if rec is None:
            raise KeyError(record_id)
        workflow = self._by_sha.get(rec.sha256)
        if workflow is None:
            definition = load_text(rec.source, f"{rec.workflow_id} r{rec.revision}", self.vocab)
            workflow = _build(definition)
        with self._lock:
            self._by_sha.setdefault(rec.sha256, workflow)
            self._record_sha[record_id] = rec.sha256
        return self._by_sha[rec.sha256]
