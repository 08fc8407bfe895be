"""earmark's producer side: references, result records, settings and the error tree."""

from __future__ import annotations

from producer.client import Client
from producer.errors import EarmarkError
from producer.records import ResultRecord
from producer.refs import AudioRef, parse_ref
from producer.settings import Settings

__all__ = ["AudioRef", "Client", "EarmarkError", "ResultRecord", "Settings", "parse_ref"]
