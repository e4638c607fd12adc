"""Bytes <-> messages, with the byte limit checked before any parsing."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

__all__ = ["ProtocolError", "MessageTooLarge", "InvalidMessage", "decode", "encode"]

M = TypeVar("M", bound=BaseModel)


class ProtocolError(Exception):
    """Root of the errors raised while decoding a message."""


class MessageTooLarge(ProtocolError):
    """The body is longer than the limit; it was not parsed."""


class InvalidMessage(ProtocolError):
    """The body is not valid JSON for the message, or breaks one of its rules.

    ``str(e)`` names the first offending field and is safe to send back.
    """


def encode(message: BaseModel) -> bytes:
    """The compact UTF-8 JSON of ``message``."""
    return message.model_dump_json().encode()


def decode(model: type[M], body: bytes, *, max_bytes: int) -> M:
    """Parse ``body`` as ``model``. Checks, in order: length, then JSON and every field rule."""
    if len(body) > max_bytes:
        raise MessageTooLarge(f"body is {len(body)} bytes, at most {max_bytes} allowed")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidMessage(_first_error(exc, model.__name__)) from None


def _first_error(exc: ValidationError, name: str) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    if not errors:
        return f"invalid {name}"
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"invalid {name}: {where}: {first['msg']}{more}"[:500]
