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
