"""earmark's producer side: the Client, references, result records, settings and the error tree.

``Client`` is imported on first use (``from producer import Client``): it brings Celery and the
stores, which a worker module importing `producer.errors` should not pay for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from producer.errors import EarmarkError
from producer.records import ResultRecord
from producer.refs import AudioRef, parse_ref
from producer.settings import Settings

if TYPE_CHECKING:
    from producer.client import Client, Submission

__all__ = [
    "AudioRef",
    "Client",
    "EarmarkError",
    "ResultRecord",
    "Settings",
    "Submission",
    "parse_ref",
]


def __getattr__(name: str) -> Any:
    if name in ("Client", "Submission"):
        from producer import client

        return getattr(client, name)
    raise AttributeError(f"module 'producer' has no attribute {name!r}")
