r"""The one error tree of earmark.

Every failure a caller can see is one of these; each carries the stable ``code`` that a result
record's ``error.code`` holds::

    EarmarkError                      root; code "internal"
    ├── RetryableError                trying again later may succeed
    │   ├── FetchError                fetch_failed   (5xx, connection reset, S3 SlowDown)
    │   │   └── FetchTimeout          timeout        (connect or read timed out)
    │   ├── StoreError                store_failed   (results store or Redis state unreachable)
    │   └── BrokerError               broker_failed  (broker unreachable)
    ├── PermanentError                trying again gives the same answer
    │   ├── InvalidReference          invalid_ref    (not a path, s3:// or http(s):// reference)
    │   ├── NotFound                  not_found
    │   ├── Forbidden                 forbidden      (outside the roots, private address, 403)
    │   ├── TooLarge                  too_large      (over EARMARK_MAX_BYTES or _MAX_SECONDS)
    │   ├── DecodeFailed              decode_failed  (bytes that hold no decodable audio)
    │   ├── UnsupportedFormat         unsupported_format
    │   ├── InferenceFailed           inference_failed (the graph refused this clip, e.g. too short)
    │   ├── ModelError                model_error    (missing file, bad graph, label mismatch)
    │   ├── UnreadableRecord          unreadable_record (a stored record that does not parse)
    │   ├── InvalidMessage            invalid_message (a task message that breaks the schema)
    │   │   └── InvalidId             invalid_message (a batch, chunk or job id off the grammar)
    │   └── WorkerCrashed             worker_crashed (the job killed its worker too often)
    ├── ConfigError                   config_error   (a setting or flag that cannot work)
    │   └── InvalidArgument           invalid_argument (a bad argument to a Client method)
    │       └── NothingToQueue        nothing_to_queue (an enqueue that would send nothing)
    ├── UnknownId                     unknown_id     (nothing is known under a batch or job id)
    └── WaitTimedOut                  wait_timeout   (a command's --timeout passed)

The command line maps the tree to exit codes in one place (`producer.cli.exit_code`).
``InvalidId`` and ``ConfigError`` (so ``InvalidArgument``) are also ``ValueError``\ s, so that
pydantic validators that call the id checks report them as validation errors; ``UnknownId`` is
also a ``LookupError``.
"""

from __future__ import annotations


class EarmarkError(Exception):
    """Root of every error earmark raises on purpose."""

    #: Stable machine-readable code, written to a result record's ``error.code``.
    code = "internal"
    #: Whether the same work may succeed if tried again later.
    retryable = False


class RetryableError(EarmarkError):
    """A failure that may pass: the same work may succeed later."""

    retryable = True


class FetchError(RetryableError):
    """The audio could not be fetched for a reason that may pass."""

    code = "fetch_failed"


class FetchTimeout(FetchError):
    """Connecting or reading took longer than allowed."""

    code = "timeout"


class StoreError(RetryableError):
    """The results store could not be read or written."""

    code = "store_failed"


class BrokerError(RetryableError):
    """The broker could not be reached."""

    code = "broker_failed"


class PermanentError(EarmarkError):
    """A failure that trying again cannot fix."""


class InvalidReference(PermanentError):
    """The reference is not a local path, an ``s3://`` object or an ``http(s)://`` URL."""

    code = "invalid_ref"


class NotFound(PermanentError):
    """The referenced audio does not exist."""

    code = "not_found"


class Forbidden(PermanentError):
    """The reference points somewhere earmark may not read."""

    code = "forbidden"


class TooLarge(PermanentError):
    """The input is over the byte or duration cap."""

    code = "too_large"


class DecodeFailed(PermanentError):
    """The bytes hold no audio that could be decoded."""

    code = "decode_failed"


class UnsupportedFormat(PermanentError):
    """The bytes are in a container or codec no decoder here reads."""

    code = "unsupported_format"


class InferenceFailed(PermanentError):
    """The model could not score this clip (too short for its convolutions, or not finite)."""

    code = "inference_failed"


class ModelError(PermanentError):
    """The model folder or graph is unusable: a missing file, no logits, mismatched labels."""

    code = "model_error"


class UnreadableRecord(PermanentError):
    """A record in the results store that does not parse; reported alone, in its place."""

    code = "unreadable_record"


class InvalidMessage(PermanentError):
    """A task message that breaks the message schema: no record can come of it as sent."""

    code = "invalid_message"


class InvalidId(InvalidMessage, ValueError):
    """A batch, chunk or job id off the grammar ``{batch_id}:{index}`` (see `producer.ids`)."""


class WorkerCrashed(PermanentError):
    """The job's worker died every time it ran it; it went to the dead-letter list."""

    code = "worker_crashed"


class ConfigError(EarmarkError, ValueError):
    """A setting, flag or URL that cannot work as given."""

    code = "config_error"


class InvalidArgument(ConfigError):
    """An argument to a `producer.Client` method (or a command's flag) that cannot work; the
    message names the argument."""

    code = "invalid_argument"


class NothingToQueue(InvalidArgument):
    """An enqueue that would send nothing (an empty folder, prefix, manifest or list), unless
    empty runs were allowed."""

    code = "nothing_to_queue"


class UnknownId(EarmarkError, LookupError):
    """Nothing is known under a batch or job id: no job reserved, no record stored (a typo, or
    a batch whose records and counters expired)."""

    code = "unknown_id"


class WaitTimedOut(EarmarkError):
    """A command waited its ``--timeout`` out before every result was in."""

    code = "wait_timeout"
