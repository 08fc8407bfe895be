"""Whether a Redis earmark keeps its state in may evict it, and how full it is.

Every guarantee lives in Redis: queues, the ledger, booked messages, results. A ``maxmemory``
policy that evicts (``allkeys-*``, ``volatile-*``: the default of several managed services)
drops a batch's ledger or records silently once Redis fills, so a worker refuses to start with
one (unless ``EARMARK_ALLOW_EVICTION=1``) and a producer warns. Where ``CONFIG GET`` is refused
(a managed Redis may rename it), the policy cannot be known: that is said once, not guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import redis

from producer.redact import redact_ref
from producer.settings import Settings
from producer.state.redis import connect, is_redis_url

#: Policies under which Redis deletes keys to make room (all but ``noeviction``).
EVICTING_POLICIES = frozenset(
    {
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    }
)
#: The setting that starts a worker on an evicting Redis anyway.
ALLOW_SETTING = "EARMARK_ALLOW_EVICTION"
#: What fixes it, said in every refusal.
FIX = (
    "set maxmemory-policy noeviction (redis.conf, or CONFIG SET maxmemory-policy noeviction), or"
    f" {ALLOW_SETTING}=1 to run anyway and lose batches and records when Redis fills"
)


@dataclass(frozen=True)
class RedisMemory:
    """One Redis's eviction policy and memory, as far as it lets them be read."""

    #: Which of earmark's Redis it is (``broker``, ``results``, or both on one server); and
    #: its URL, redacted.
    role: str
    url: str
    #: ``maxmemory-policy``, or None when ``CONFIG GET`` was refused (`unread` says why).
    policy: str | None
    unread: str | None = None
    #: ``used_memory`` and ``maxmemory`` in bytes (``maxmemory`` 0: no limit).
    used_bytes: int = 0
    max_bytes: int = 0

    @property
    def evicting(self) -> bool:
        """Whether this Redis may delete earmark's keys to make room."""
        return self.policy in EVICTING_POLICIES

    def describe(self) -> str:
        """One line on the policy: evicting (and the fix), or unknown (and why)."""
        if self.policy is None:
            return (
                f"the {self.role} Redis ({self.url}) does not say its maxmemory-policy"
                f" ({self.unread}): make sure it is noeviction"
            )
        return (
            f"the {self.role} Redis ({self.url}) has maxmemory-policy {self.policy}, which"
            f" evicts earmark's keys when it fills: {FIX}"
        )


def redis_urls(settings: Settings) -> dict[str, str]:
    """The Redis earmark keeps state in, by role: the broker, and the results store's when it
    is a Redis too."""
    if not is_redis_url(settings.results_url):
        return {"broker": settings.broker_url}
    if _server(settings.results_url) == _server(settings.broker_url):
        return {"broker and results": settings.broker_url}  # one server: one policy
    return {"broker": settings.broker_url, "results": settings.results_url}


def _server(url: str) -> tuple[str, str]:
    """A Redis URL's scheme and location, its database and options aside."""
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def read_all(settings: Settings) -> list[RedisMemory]:
    """What each of earmark's Redis says of its policy and memory; one that does not answer is
    left out (what needs it reports it unreachable in its own words)."""
    found = []
    for role, url in redis_urls(settings).items():
        client = connect(url)
        try:
            found.append(read_memory(role, url, client))
        except redis.RedisError:
            continue
        finally:
            client.close()
    return found


def read_memory(role: str, url: str, client: redis.Redis) -> RedisMemory:
    """`client`'s policy and memory; a refused ``CONFIG GET`` or ``INFO`` is said, not raised
    (connection errors are: the caller decides what an unreachable Redis means)."""
    shown = redact_ref(url)
    try:
        answer = client.config_get("maxmemory-policy")
        policy = _text(answer.get("maxmemory-policy", "")) or None
        unread = None if policy else "CONFIG GET answered no policy"
    except redis.ResponseError as e:  # renamed or refused (NOPERM): the policy is unknown
        policy, unread = None, f"CONFIG GET refused: {str(e)[:120]}"
    try:
        info = client.info("memory")
    except redis.ResponseError:
        info = {}
    return RedisMemory(
        role,
        shown,
        policy,
        unread,
        int(info.get("used_memory", 0)),
        int(info.get("maxmemory", 0)),
    )


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
