"""Every default that more than one part of earmark uses, written once.

`Settings` (producer/settings.py) takes its defaults from here, and so do the parts that can be
built without it: the fetch limits (worker/fetch/limits.py), the Redis key lifetimes
(producer/state/keys.py) and the stores. A default used by `Settings` alone stays there.
"""

from __future__ import annotations

#: Lifetime of results, batch counters and booked messages, seconds (EARMARK_RESULT_TTL_S).
RESULT_TTL_S = 7 * 24 * 3600
#: Largest input fetched, bytes (EARMARK_MAX_BYTES).
MAX_BYTES = 100 * 1024 * 1024
#: Seconds to wait for a connection to a URL's or S3's server (EARMARK_FETCH_CONNECT_TIMEOUT_S).
FETCH_CONNECT_TIMEOUT_S = 5.0
#: Seconds to wait for any one read from it (EARMARK_FETCH_READ_TIMEOUT_S).
FETCH_READ_TIMEOUT_S = 30.0
#: Seconds one URL fetch may take in all (EARMARK_FETCH_TIMEOUT_S).
FETCH_TIMEOUT_S = 300.0
#: Tries of a fetch that failed for a reason that may pass (EARMARK_FETCH_ATTEMPTS) and the
#: first pause between them, doubling to 8 s (EARMARK_FETCH_RETRY_BASE_S): six tries over 11.5
#: to 23 s ride out a server restarting for ten seconds.
FETCH_ATTEMPTS = 6
FETCH_RETRY_BASE_S = 1.0
