"""The shared Redis state of one deployment, opened once from the settings.

The batch ledger and the booked messages live beside the results when results are in Redis
(one place to size and back up), else on the broker's Redis; attempt counts and dead letters
always live on the broker's.
"""

from __future__ import annotations

from dataclasses import dataclass

from producer.settings import Settings
from producer.state.attempts import Attempts
from producer.state.dlq import DeadLetters
from producer.state.ledger import Ledger
from producer.state.outstanding import Outstanding
from producer.state.redis import connect, is_redis_url


@dataclass(frozen=True)
class SharedState:
    """Batch counters, booked messages, attempt counts and dead letters."""

    ledger: Ledger
    outstanding: Outstanding
    attempts: Attempts
    dead_letters: DeadLetters


def ledger_url(settings: Settings) -> str:
    """The Redis of the ledger and the booked messages."""
    results = settings.results_url
    return results if is_redis_url(results) else settings.broker_url


def open_state(settings: Settings) -> SharedState:
    """Clients of the configured Redis servers, one per server."""
    broker = connect(settings.broker_url)
    url = ledger_url(settings)
    ledger_client = broker if url == settings.broker_url else connect(url)
    return SharedState(
        ledger=Ledger(ledger_client, ttl_s=settings.result_ttl_s),
        outstanding=Outstanding(ledger_client, settings.result_ttl_s),
        attempts=Attempts(broker),
        dead_letters=DeadLetters(broker),
    )
