"""The Celery app that Celery's own tools load: ``celery -A worker.service.monitor …``.

``celery -A worker.service.monitor inspect active``, ``… events`` and ``… flower`` need an
app on earmark's broker that knows its queues and its JSON-only serialization; this one is
made from the same EARMARK_ settings as the workers (``EARMARK_BROKER_URL``), and runs no task.
"""

from __future__ import annotations

from producer.broker import make_celery
from producer.settings import Settings

#: The app ``celery -A worker.service.monitor`` finds.
app = make_celery(Settings())
