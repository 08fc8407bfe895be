"""Shared Redis state: batch counters, booked messages, attempt counts and dead letters.

Producers and workers both read and write it; :mod:`producer.state.keys` names every key.
"""

from __future__ import annotations

from producer.state.attempts import Attempts
from producer.state.dlq import DeadLetters
from producer.state.ledger import BatchStatus, Ledger
from producer.state.outstanding import Outstanding
from producer.state.redis import connect

__all__ = ["Attempts", "BatchStatus", "DeadLetters", "Ledger", "Outstanding", "connect"]
