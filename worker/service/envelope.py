"""The envelope of a task message: what Celery needs before it can build a request at all.

Celery unpacks a protocol-2 body as ``args, kwargs, embed`` and reads the ``id`` and ``task``
headers while it builds a request, outside its own error handling: a body of two elements, a
dict, or a message without an ``id`` raised there and ended the worker (and the next one, since
the message went back on its queue). :func:`refusal` checks all of that first, so such a message
is dead-lettered once and acknowledged, and the worker serves on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

#: The one content type earmark accepts (never pickle).
JSON = "application/json"


def refusal(headers: object, content_type: str | None, body: bytes | str) -> str | None:
    """Why a message cannot become a Celery request, or None when its envelope is sound.

    Content that is not JSON, or JSON text that does not parse, is left to Celery, which
    refuses it (and the consumer dead-letters it as undecodable); an unknown task name too.
    """
    if not isinstance(headers, Mapping):
        return "no headers: not a protocol-2 task message"
    problem = _header_refusal(headers)
    if problem is not None or content_type != JSON:
        return problem
    try:
        decoded = json.loads(body)
    except ValueError:
        return None
    return _body_refusal(decoded)


def _header_refusal(headers: Mapping[str, Any]) -> str | None:
    for name in ("id", "task"):
        value = headers.get(name)
        if not isinstance(value, str) or not value:
            return f"header {name!r} missing or not a string: not a protocol-2 task message"
    limits = headers.get("timelimit")
    if limits is not None and not _is_time_limits(limits):
        return "header 'timelimit' is not [hard, soft] seconds"
    for name in ("argsrepr", "kwargsrepr", "shadow", "root_id", "parent_id", "group"):
        value = headers.get(name)
        if value is not None and not isinstance(value, str):
            return f"header {name!r} is not a string"
    return None


def _body_refusal(decoded: object) -> str | None:
    if not isinstance(decoded, list) or len(decoded) != 3:
        return "body is not [args, kwargs, embed]"
    args, kwargs, embed = decoded
    if not isinstance(args, list):
        return "args is not a list"
    if not isinstance(kwargs, dict):
        return "kwargs is not an object"
    if embed is not None and not isinstance(embed, dict):
        return "embed is not an object"
    return None


def _is_time_limits(value: object) -> bool:
    if not isinstance(value, list | tuple) or len(value) != 2:
        return False
    return all(v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in value)
