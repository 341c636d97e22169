"""Domain: entities (SQLAlchemy 2.0), the workflow vocabulary (roles, guards, effects) and pure
rules over entities. No Flask, no sessions opened or committed here.

Importing any part of the domain registers every entity module, so ``Base.metadata`` is complete
wherever it is used (foreign keys between modules resolve, ``sorted_tables`` sees every table):
a process that imports only ``bti.domain.cases`` still knows ``measure_catalogue``. A new entity
module is added to ``ENTITY_MODULES`` (tests/domain/test_model_registry.py checks it)."""

from importlib import import_module

#: Every module that defines entities on ``bti.domain.base.Base``.
ENTITY_MODULES = ("bti.domain.org", "bti.domain.cases", "bti.domain.log", "bti.domain.analytics",
                  "bti.domain.notifications", "bti.domain.teams", "bti.domain.family",
                  "bti.domain.family_voice")

for _name in ENTITY_MODULES:
    import_module(_name)
del _name
