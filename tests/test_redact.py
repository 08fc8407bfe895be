"""Redaction without services: references, messages and log records lose their credentials."""

from __future__ import annotations

import logging
import string

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from producer.records import ErrorInfo, ResultRecord
from producer.redact import MASK, RedactingFilter, is_secret_param, redact, redact_ref

#: Secrets drawn from letters and digits only, so that they cannot be spelled by the URL around.
secrets = st.text(string.ascii_letters + string.digits, min_size=12, max_size=40).map(
    lambda s: "S3cr" + s
)
#: RFC 3986's reserved characters, and "%": each may stand raw in a password a caller pastes.
RESERVED = ":/?#[]@!$&'()*+,;=%"
#: Passwords made of reserved characters (all of them in any order, or any mix with letters),
#: led by letters: a password that is all digits up to a "/", "?" or "#" reads as a port.
reserved_passwords = st.one_of(
    st.permutations(RESERVED).map("".join),
    st.lists(st.sampled_from([*RESERVED, *"aZ09-._~"]), min_size=1, max_size=30).map("".join),
).map(lambda s: "Pw" + s)
hosts = st.sampled_from(["example.com", "127.0.0.1:8080", "[::1]:9000", "bucket.s3.amazonaws.com"])
paths = st.sampled_from(["/a.wav", "/clips/b%20c.flac", "/", "/x/y.mp3"])


@pytest.mark.parametrize(
    ("ref", "shown"),
    [
        ("http://user:pw@host/a.wav", f"http://user:{MASK}@host/a.wav"),
        ("https://TOKEN@host/a.wav", f"https://{MASK}@host/a.wav"),
        ("http://u:p@ss@host/a", f"http://u:{MASK}@host/a"),  # "@" in a password, as urlsplit
        ("http://u:pa/ss@host:9/a", f"http://u:{MASK}@host:9/a"),  # a raw "/" in a password
        # which "@" ends a raw password cannot be known; the last one is taken, never an early one
        ("http://u:p@s/s@host/a", f"http://u:{MASK}@host/a"),
        ("https://u:pw@h/@me/a.wav", f"https://u:{MASK}@me/a.wav"),
        ("https://TOKEN@h:8080/a", f"https://{MASK}@h:8080/a"),
        ("https://TOKEN@h:bad/a", f"https://{MASK}@h:{MASK}"),
        (
            "https://b.s3.amazonaws.com/k.wav?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=AKIA%2F2026&X-Amz-Signature=abc&X-Amz-Security-Token=tok#t=1",
            "https://b.s3.amazonaws.com/k.wav?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            f"&X-Amz-Credential={MASK}&X-Amz-Signature={MASK}&X-Amz-Security-Token={MASK}#t=1",
        ),
        (
            "https://h/a?AWSAccessKeyId=AK&Signature=s&Expires=1",
            f"https://h/a?AWSAccessKeyId={MASK}&Signature={MASK}&Expires=1",
        ),
        (
            "https://acct.blob.core.windows.net/c/a.wav?sv=1&sig=s",
            f"https://acct.blob.core.windows.net/c/a.wav?sv=1&sig={MASK}",
        ),
        ("https://h/a?key=AIza&access_token=t", f"https://h/a?key={MASK}&access_token={MASK}"),
        ("https://medium.com/@me/a.wav?v=2", "https://medium.com/@me/a.wav?v=2"),
        ("http://[::1]:80/@x", "http://[::1]:80/@x"),
        ("https://h/a?token", "https://h/a?token"),
        ("s3://bucket/key/a.wav", "s3://bucket/key/a.wav"),
        ("/data/token=abc.wav", "/data/token=abc.wav"),
        ("clips/a.wav", "clips/a.wav"),
    ],
)
def test_a_reference_keeps_what_names_the_file_and_loses_its_secrets(ref: str, shown: str) -> None:
    assert redact_ref(ref) == shown


@pytest.mark.parametrize(
    "password", ["HUN#TER3-pw", "HUN?TER3-pw", f"HUN{RESERVED}TER3", f"HUN{RESERVED[::-1]}TER3"]
)
def test_a_password_with_reserved_characters_is_masked_whole(password: str) -> None:
    """A raw "#", "?", "/" or "@" ends the authority early; the password is masked all the same."""
    url = f"http://alice:{password}@host/a.wav"
    assert redact_ref(url) == f"http://alice:{MASK}@host/a.wav"
    assert redact(f"GET {url} failed") == f"GET http://alice:{MASK}@host/a.wav failed"
    record = ResultRecord(input=url, status="error", error=ErrorInfo(code="x", message=url))
    assert "HUN" not in record.to_json() and "TER3" not in record.to_json()


@settings(max_examples=500)
@given(
    user=st.sampled_from(["alice", "svc-1", ""]), password=reserved_passwords, host=hosts,
    path=paths, query=st.sampled_from(["", "?v=1", "?X-Amz-Signature=abc"]),
)  # fmt: skip
def test_a_password_of_any_reserved_characters_never_survives(
    user: str, password: str, host: str, path: str, query: str
) -> None:
    url = f"https://{user}:{password}@{host}{path}{query}"
    shown = f"https://{user}:{MASK}@{host}{path}{query.replace('=abc', f'={MASK}')}"
    assert redact_ref(url) == shown
    assert redact(f"fetch '{url}' failed: HTTP 500") == f"fetch '{shown}' failed: HTTP 500"


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        # a path's last segment is no field name: "passwd:" here is a file, then the message
        ("FILE:///etc/passwd: outside the allowed local roots", None),
        ("/etc/passwd: outside the allowed local roots", None),
        ("/data/token=abc.wav: no such file", None),
        ("/srv/secret: 12 bytes", None),
        ("passwd: hunter2", f"passwd: {MASK}"),
        ("x-amz-security-token: abc", f"x-amz-security-token: {MASK}"),
    ],
)
def test_a_name_after_a_slash_is_a_path_not_a_field(message: str, shown: str | None) -> None:
    assert redact(message) == (shown or message)


@given(user=st.sampled_from(["alice", "svc-1", ""]), password=secrets, host=hosts, path=paths)
def test_a_url_password_never_survives(user: str, password: str, host: str, path: str) -> None:
    shown = redact_ref(f"https://{user}:{password}@{host}{path}")
    assert password not in shown
    assert shown == f"https://{user}:{MASK}@{host}{path}"


@given(
    name=st.sampled_from(
        ["X-Amz-Signature", "x-amz-credential", "X-Amz-Security-Token", "Signature", "sig",
         "AWSAccessKeyId", "token", "X-Goog-Signature", "access_token", "client_secret"]
    ),
    secret=secrets,
    before=st.lists(st.sampled_from(["a=1", "X-Amz-Expires=600", "v", "b="]), max_size=3),
    after=st.lists(st.sampled_from(["c=3", "response-content-type=audio%2Fwav"]), max_size=3),
)  # fmt: skip
def test_a_signing_parameter_never_survives(
    name: str, secret: str, before: list[str], after: list[str]
) -> None:
    query = "&".join([*before, f"{name}={secret}", *after])
    shown = redact_ref(f"https://h.example/a.wav?{query}")
    assert secret not in shown
    assert shown == f"https://h.example/a.wav?{'&'.join([*before, f'{name}={MASK}', *after])}"


#: Text shaped like messages that quote URLs: schemes, user info, fields, quotes, masks.
url_shaped = st.lists(
    st.sampled_from(
        ["http://", "s3://", "u", ":", "@", "/", "?", "#", "'", '"', " ", "token=", "sig=", "&",
         "[::1]", ":80", "pw", "passwd:", "/etc/", "%", "=", "<", MASK]
    ) | st.text(max_size=3),
    max_size=25,
).map("".join)  # fmt: skip


@pytest.mark.slow
@settings(max_examples=1000)
@given(st.text() | url_shaped)
@example("A://;PASS:0#")  # the field rule masks the "port"; the mask must not read as a password
@example("TOKEN=A://&A://::")  # masking the field uncovers a second URL and its password
def test_redaction_is_idempotent_and_total(text: str) -> None:
    once = redact(text)
    assert redact(once) == once
    assert redact_ref(redact_ref(text)) == redact_ref(text)


@pytest.mark.parametrize(
    "line",
    [
        # urllib3's request line at DEBUG
        'http://127.0.0.1:8 "GET /a.wav?X-Amz-Signature={s}&X-Amz-Security-Token={s} HTTP/1.1" 200',
        # botocore's canonical request, header dict and signature at DEBUG
        "host:127.0.0.1\nx-amz-security-token:{s}\n",
        "headers={{'X-Amz-Security-Token': b'{s}', 'Authorization': b'AWS4-HMAC-SHA256 "
        "Credential={s}/2026/us-east-1/s3/aws4_request, SignedHeaders=host, Signature={s}'}}",
        "Signature:\n{s}",
        "Authorization: Basic {s}",
        '{{"password": "{s}"}}',
        "redis://:{s}@127.0.0.1:6379/0 refused",
        "pydantic: input_value={{'ref': 'http://u:{s}@h/a.wav'}}",
    ],
)
def test_a_message_loses_the_secrets_that_logs_and_errors_quote(line: str) -> None:
    assert "S3cret42" not in redact(line.format(s="S3cret42"))


def test_a_message_keeps_fields_that_are_not_secrets() -> None:
    text = "'Bucket': 'b', 'Key': 'missing.wav', SignedHeaders=host;x-amz-security-token, ok"
    assert redact(text) == text
    assert not is_secret_param("Key", in_query=False) and is_secret_param("key")


def test_a_record_never_holds_a_credential_however_it_is_built() -> None:
    error = ErrorInfo.from_exception(RuntimeError("GET https://u:pw1@h/a?sig=pw2 failed"))
    record = ResultRecord(input="https://u:pw3@h/a?sig=pw4", status="error", error=error)
    stored = '{"input": "http://u:pw5@h/", "status": "error", "error": {"code": "x", '
    parsed = ResultRecord.model_validate_json(stored + '"message": "token=pw6"}}')
    text = record.to_json() + parsed.to_json()
    assert not any(f"pw{n}" in text for n in range(1, 7))
    assert record.input == f"https://u:{MASK}@h/a?sig={MASK}"


def test_the_logging_filter_redacts_messages_arguments_and_tracebacks() -> None:
    logger = logging.getLogger("tests.redact")
    record = logger.makeRecord(
        logger.name, logging.ERROR, __file__, 1, "fetch %s failed", ("https://u:pw1@h/a",), None
    )
    try:
        raise ValueError("token=pw2")
    except ValueError as e:
        record.exc_info = (type(e), e, e.__traceback__)
    assert RedactingFilter().filter(record)
    handler = logging.StreamHandler()
    text = handler.format(record)
    assert "pw1" not in text and "pw2" not in text and "fetch https://u:***@h/a failed" in text


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "redis://:@127.0.0.1:6379/0",  # an empty password is none: nothing to mask
        "redis://earmark:@h/1",
        "sentinel://s1:26379;sentinel://s2:26379/0?master_name=main",  # a port, then the next
        "redis://h1:6379,h2:6379/0",
        "rediss://h:6380/0?ssl_cert_reqs=required",
    ],
)
def test_a_url_without_a_password_is_shown_as_it_is(url: str) -> None:
    """Redaction never invents a password (issue #23: `redis://:**@host` for a Redis with
    none, which sends an operator looking for a password nobody set)."""
    assert redact_ref(url) == url
    assert redact(f"broker {url} down") == f"broker {url} down"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://u:123;abc@h/0", f"redis://u:{MASK}@h/0"),  # digits, ";", then no host:port
        ("redis://u:1;h2:2@h/0", f"redis://u:{MASK}@h/0"),  # an "@" after: a password after all
        ("redis://u:123;abc", f"redis://u:{MASK}"),
        (
            "sentinel://:pw@s1:26379;sentinel://s2:26379",
            f"sentinel://:{MASK}@s1:26379;sentinel://s2:26379",
        ),
    ],
)
def test_a_password_that_starts_like_a_port_is_still_masked(url: str, shown: str) -> None:
    assert redact_ref(url) == shown
