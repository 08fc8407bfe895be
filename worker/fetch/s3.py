"""Fetch from S3: one streamed ``GetObject`` under the byte cap, its errors mapped to ours.

boto3 is imported only when the first S3 reference arrives, and the client comes from the
caller; error messages name the object and the S3 error code, never a credential.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from producer.errors import (
    EarmarkError,
    FetchError,
    FetchTimeout,
    Forbidden,
    InvalidReference,
    NotFound,
)
from producer.redact import redact_ref
from producer.refs import S3Ref
from producer.stores.aws import S3Client
from worker.fetch.limits import MAX_BYTES_SETTING, timed_out, too_large

#: Bytes read from the response body per call.
_CHUNK_BYTES = 1024 * 1024
#: S3 error codes, by the earmark error they mean; others fall back to their HTTP status.
_CODES: dict[str, type[EarmarkError]] = {
    code: error
    for error, codes in (
        (NotFound, ("NoSuchKey", "NoSuchBucket", "NotFound", "404")),
        (Forbidden, ("AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "403",
                     "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "AccountProblem")),
        (FetchTimeout, ("RequestTimeout", "RequestTimeoutException")),
        (FetchError, ("SlowDown", "Throttling", "ThrottlingException", "ServiceUnavailable",
                      "InternalError")),
    )
    for code in codes
}  # fmt: skip


def fetch_s3(client: S3Client, ref: S3Ref, max_bytes: int) -> bytes:
    """The object's bytes, refused once past `max_bytes`."""
    return b"".join(stream_s3(client, ref, max_bytes))


def stream_s3(
    client: S3Client, ref: S3Ref, max_bytes: int, setting: str = MAX_BYTES_SETTING
) -> Iterator[bytes]:
    """The object's bytes a chunk at a time, refused once past `max_bytes` (the cap `setting`
    sets); the response is closed when the stream is."""
    from botocore.exceptions import (  # type: ignore[import-untyped,unused-ignore]
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        NoCredentialsError,
        ParamValidationError,
        ReadTimeoutError,
    )

    where = redact_ref(str(ref))  # s3://key:secret@bucket/… is no bucket, yet a secret
    try:
        response = client.get_object(Bucket=ref.bucket, Key=ref.key)
        yield from _read_body(response, where, max_bytes, setting)
    except ClientError as e:
        raise _client_error(where, e.response) from e
    except (ConnectTimeoutError, ReadTimeoutError) as e:
        raise timed_out(where) from e
    except NoCredentialsError as e:
        raise Forbidden(
            f"{where}: no AWS credentials configured (AWS_ACCESS_KEY_ID and"
            " AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an instance role)"
        ) from e
    except ParamValidationError as e:
        raise InvalidReference(f"{where}: not a valid bucket or key") from e
    except (BotoCoreError, OSError) as e:  # connection refused or reset, truncated body
        raise FetchError(f"{where}: {type(e).__name__}") from e


def _read_body(
    response: Mapping[str, Any], where: str, max_bytes: int, setting: str
) -> Iterator[bytes]:
    body = response["Body"]
    try:
        size = response.get("ContentLength")
        if isinstance(size, int) and size > max_bytes:
            raise too_large(where, max_bytes, size, setting)
        read = 0
        while chunk := body.read(_CHUNK_BYTES):
            read += len(chunk)
            if read > max_bytes:
                raise too_large(where, max_bytes, setting=setting)
            yield chunk
    finally:
        body.close()


def _client_error(where: str, response: Mapping[str, Any]) -> EarmarkError:
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    error = _CODES.get(code)
    if error is None:
        error = (
            NotFound if status == 404
            else Forbidden if status in (401, 403)
            else FetchError if status == 429 or status >= 500
            else InvalidReference
        )  # fmt: skip
    return error(f"{where}: {code or 'error'} (HTTP {status})")
