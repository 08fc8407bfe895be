"""Every Redis key earmark reads or writes, with its type and lifetime, in one place.

On the results Redis (when ``EARMARK_RESULTS_URL`` is ``redis://``; else on the broker's)::

    earmark:result:{job_id}              string  the record's JSON             RESULT_TTL
    earmark:result-index:{batch_id}      set     job ids with a record         RESULT_TTL
    earmark:timeline:{job_id}            string  the job's timeline, JSON lines RESULT_TTL
    earmark:batch:{batch_id}             hash    total, done, failed           RESULT_TTL
    earmark:batch:{batch_id}:finished    set     job ids counted as finished   RESULT_TTL
    earmark:outstanding:{batch_id}       hash    message key -> task message   RESULT_TTL
    earmark:open                         set     batches with booked messages  none
    earmark:sweeper:lock                 string  the sweeping worker's token   SWEEP * 0.8
    earmark:sweeper:suspects             hash    message key -> first missed   SWEEP * 4

On the broker's Redis::

    earmark:attempts:{job_id}            string  starts of one job             ATTEMPTS_TTL_S
    earmark:dlq                          list    dead letters, newest first    none
    earmark:dead:{job_id}                string  guard: job dead-lettered once ATTEMPTS_TTL_S
    earmark.interactive, earmark.bulk    list    kombu's queues                none
    unacked, unacked_index               hash, zset  kombu's delivered, unacknowledged messages

RESULT_TTL is ``EARMARK_RESULT_TTL_S`` (7 days unless set), renewed on every write; SWEEP is
``EARMARK_SWEEP_S`` (15 s unless set).
"""

from __future__ import annotations

#: Seconds an attempt count is kept; longer than any redelivery cycle.
ATTEMPTS_TTL_S = 24 * 3600

#: The set of batches that may have outstanding (booked) messages; the sweeper reads it.
OPEN_KEY = "earmark:open"
#: The dead-letter list (JSON entries), newest first.
DLQ_KEY = "earmark:dlq"
#: The lock one sweeping worker holds for a little less than one sweep interval.
SWEEPER_LOCK_KEY = "earmark:sweeper:lock"
#: Booked messages found missing by the last sweep, with when they were first missed.
SWEEPER_SUSPECTS_KEY = "earmark:sweeper:suspects"
#: kombu's Redis transport: delivered, unacknowledged messages (its default names).
UNACKED_KEY = "unacked"
#: kombu's Redis transport: delivery time of each unacknowledged message.
UNACKED_INDEX_KEY = "unacked_index"


def result_key(job_id: str) -> str:
    """One job's record."""
    return f"earmark:result:{job_id}"


def result_index_key(batch_id: str) -> str:
    """The set of a batch's job ids that have a record."""
    return f"earmark:result-index:{batch_id}"


def timeline_key(job_id: str) -> str:
    """One job's timeline (producer/timelines.py), written before its record."""
    return f"earmark:timeline:{job_id}"


def batch_key(batch_id: str) -> str:
    """The hash of a batch's counters."""
    return f"earmark:batch:{batch_id}"


def finished_key(batch_id: str) -> str:
    """The set of a batch's finished job ids."""
    return f"earmark:batch:{batch_id}:finished"


def outstanding_key(batch_id: str) -> str:
    """The hash of a batch's outstanding (booked, not yet finished) messages."""
    return f"earmark:outstanding:{batch_id}"


def attempts_key(job_id: str) -> str:
    """The counter of one job's attempts."""
    return f"earmark:attempts:{job_id}"


def dead_key(job_id: str) -> str:
    """Set while a job is on the dead-letter list, so that it is put there once."""
    return f"earmark:dead:{job_id}"
