"""Service-level errors, mapped to HTTP by the web layer (404, 403, 409, 422)."""

from __future__ import annotations


class ServiceError(Exception):
    code = "error"


class NotFound(ServiceError):
    """No such object, or the actor may not know it exists (both answer the same). The web layer
    logs the refused attempt (``object_type``/``object_id``) without telling the user which."""

    code = "not_found"

    def __init__(self, message: str = "not found", *, object_type: str | None = None,
                 object_id: int | None = None) -> None:
        super().__init__(message)
        self.object_type = object_type
        self.object_id = object_id


class Forbidden(ServiceError):
    code = "forbidden"


class Conflict(ServiceError):
    """Someone else changed the case first; nothing was written."""

    code = "conflict"

    def __init__(self, message: str = "the case was changed by someone else",
                 current_version: int | None = None) -> None:
        super().__init__(message)
        self.current_version = current_version


class InvalidInput(ServiceError):
    """Input that is not a workflow payload (for example an unknown unit); ``fields`` holds
    field-level error codes; ``params`` what a message about them needs (a count)."""

    code = "invalid"

    def __init__(self, fields: dict[str, list[str]], **params: int | str) -> None:
        super().__init__(", ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields
        self.params = params
