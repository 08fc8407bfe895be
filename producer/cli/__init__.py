"""The ``earmark`` command line: the producer's commands, the worker's by an entry point."""

from __future__ import annotations

from producer.cli.root import COMMANDS_GROUP, PRODUCER_COMMANDS, app, exit_code, main

__all__ = ["COMMANDS_GROUP", "PRODUCER_COMMANDS", "app", "exit_code", "main"]
