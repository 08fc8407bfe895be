"""Task messages that fail validation: a record where the job id is usable, else a dead letter.

A job whose id is well formed gets an ``invalid_message`` record, so that its batch still
finishes; one without (or a body that is not a job at all) cannot be recorded anywhere and goes
to the dead-letter list with the reason.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pydantic import ValidationError

from producer.errors import InvalidId, InvalidMessage
from producer.ids import batch_of
from producer.messages import Job, describe_invalid
from producer.records import ErrorInfo, ResultRecord
from producer.state.dlq import DeadLetters

log = logging.getLogger(__name__)


def parse_jobs(
    bodies: list[Any],
    shared: dict[str, Any],
    dead_letters: DeadLetters,
    defaults: dict[str, Any] | None = None,
) -> tuple[list[Job], list[ResultRecord]]:
    """The valid jobs among `bodies` (each merged with `shared`, and with `defaults` where it
    gives no value of its own: a chunk's window), and records for the others."""
    jobs: list[Job] = []
    malformed: list[ResultRecord] = []
    for body in bodies:
        if isinstance(body, dict):
            own = {key: value for key, value in body.items() if value is not None}
            body = {**(defaults or {}), **own, **shared}
        try:
            jobs.append(Job.model_validate(body))
        except ValidationError as e:
            malformed.extend(_malformed_record(body, e, dead_letters))
    return jobs, malformed


def _malformed_record(
    body: object, error: ValidationError, dead_letters: DeadLetters
) -> list[ResultRecord]:
    job_id = body.get("job_id") if isinstance(body, dict) else None
    try:
        batch_id = batch_of(job_id) if isinstance(job_id, str) else None
    except InvalidId:
        batch_id = None
    detail = describe_invalid(error)
    if batch_id is None or not isinstance(body, dict):
        log.error("earmark: dead-lettered a task message without a valid job id: %s", detail)
        dead_letters.push_message(json.dumps(body, default=repr), InvalidMessage.code, detail)
        return []
    ref = body.get("ref")
    return [
        ResultRecord(
            job_id=job_id,
            batch_id=batch_id,
            input=ref if isinstance(ref, str) else "",
            status="error",
            error=ErrorInfo.from_exception(InvalidMessage(detail)),
        )
    ]
