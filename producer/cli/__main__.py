"""``python -m producer.cli``: the ``earmark`` command without its console script."""

from __future__ import annotations

from producer.cli.root import main

main()
