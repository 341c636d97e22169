"""Domain: entities (SQLAlchemy 2.0), the workflow vocabulary (roles, guards, effects) and pure
rules over entities. No Flask, no sessions opened or committed here."""
