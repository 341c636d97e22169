"""The workflow engine: workflow files, validation and the state machine.

Pure Python on ``transitions``, ``marshmallow`` and ``tomllib``; it knows nothing about cases,
users, databases or HTTP (architecture §4.3).
"""

from bti.engine.definition import EffectSpec
from bti.engine.definition import TransitionDef
from bti.engine.definition import Vocabulary
from bti.engine.definition import WorkflowDefinition
from bti.engine.errors import DefinitionError
from bti.engine.errors import Refusal
from bti.engine.errors import TransitionRefused
from bti.engine.loader import check_paths
from bti.engine.loader import load_directory
from bti.engine.loader import load_file
from bti.engine.loader import load_text
from bti.engine.workflow import Action
from bti.engine.workflow import Step
from bti.engine.workflow import Workflow

__all__ = [
    "Action",
    "DefinitionError",
    "EffectSpec",
    "Refusal",
    "Step",
    "TransitionDef",
    "TransitionRefused",
    "Vocabulary",
    "Workflow",
    "WorkflowDefinition",
    "check_paths",
    "load_directory",
    "load_file",
    "load_text",
]
