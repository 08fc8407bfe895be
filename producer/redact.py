"""Redaction: references, messages and log records with their credentials replaced by ``***``.

A reference can hold a secret in two places: the user info of a URL (``user:password@host``)
and the query of a pre-signed URL (``X-Amz-Signature=…``, Azure's ``sig=…``). Fetching uses the
reference as given; what people and other programs read shows it through :func:`redact_ref`
(result records) or :func:`redact` (messages and log lines, which may also quote a request line
or a header such as ``x-amz-security-token: …``). The rest of the text is kept as written, so a
redacted reference still says which file it was.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

#: What a secret is replaced with.
MASK = "***"
#: Most rounds of redaction over one text: each round only adds masks, so a few reach the point
#: where nothing changes (tests/test_redact.py's property test checks that they do).
_MAX_PASSES = 4

#: A user info that is only a token (``https://TOKEN@host/``), to the last "@" in the authority.
_TOKEN = r"(?P<token>[^:/?#\[\]\s'\"<>]+@)?"
#: ``user:password@``. Unless what follows the ":" is a port (digits, or a mask already there,
#: then the authority's end, or a ";" or "," before the next URL or ``host:port`` of a list,
#: ``sentinel://h1:26379;sentinel://h2:26379``, with no "@" after it in the authority), the
#: password runs to the last "@" before white space, a double quote or an angle bracket, or to
#: that end when no "@" comes first. A password may hold any reserved character
#: (``:/?#[]@!$&'()*+,;=``, ``%``): one ends the authority early for every URL parser, and any
#: "@" may be the password's own, so the last one is taken.
_PASSWORD = (
    rf"(?:(?P<user>[^:/?#\[\]@\s'\"<>]*):(?!(?:\d*|{re.escape(MASK)})"
    r"(?:[/?#\s'\"<>]|$|[;,](?=[A-Za-z][A-Za-z0-9+.-]*://|[\w.-]+:\d)(?![^/?#\s'\"<>]*@)))"
    r"(?P<password>[^\s\"<>]*@|[^\s\"<>]*))?"
)
#: A URL inside any text: a scheme, ``//``, user info, an authority, then path, query and
#: fragment up to white space or a quote (the end of a URL quoted in a message or a repr).
_URL = re.compile(
    rf"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://){_TOKEN}{_PASSWORD}"
    r"(?P<authority>[^/?#\s'\"<>]*)(?P<rest>[^\s'\"<>]*)"
)
#: Names whose value is a credential wherever they appear: S3 (SigV2, SigV4), GCS and Azure SAS
#: signing parameters, HTTP authorization, the usual password spellings. Compared lower-cased.
_SECRET_NAMES = frozenset(
    {"sig", "signature", "awsaccesskeyid", "authorization", "pass", "passwd", "pwd"}
)
#: Names that are credentials in a URL's query only (elsewhere ``key`` is an S3 object key).
_QUERY_SECRET_NAMES = frozenset({"key", "apikey", "api_key"})
#: Endings of names that carry a credential: ``X-Amz-Security-Token``, ``X-Goog-Credential``,
#: ``access_token``, ``client_secret`` and the like.
_SECRET_ENDINGS = ("signature", "credentials", "credential", "token", "secret", "password")
#: A secret-named ``name=value`` or ``name: value`` outside a URL: a request line's query, a
#: header, a repr. Only secret names match, so that a field's value is scanned for more.
_FIELD = re.compile(
    rf"(?<![\w./-])(?P<name>[\w.-]*(?:{'|'.join(_SECRET_ENDINGS)})"
    rf"|{'|'.join(sorted(_SECRET_NAMES | _QUERY_SECRET_NAMES, key=len, reverse=True))})"
    r"(?P<sep>['\"]?\s*[:=]\s*(?:b?['\"])?)"
    r"(?P<value>(?:(?:basic|bearer|digest)\s+)?[^\s'\"&,;}#]+)",
    re.IGNORECASE,
)


def redact_ref(ref: str) -> str:
    """A reference with its URL password (or lone user token) and signing parameters masked."""
    if "://" not in ref:  # a path: nothing to mask
        return ref
    return _URL.sub(_redact_url, ref)


def redact(text: str) -> str:
    """Free text with every URL redacted as a reference and every secret-named value masked.

    Masking a field can end a URL early and so uncover another one behind it
    (``TOKEN=A://&B://:pw``): the two rules run again until nothing changes.
    """
    for _ in range(_MAX_PASSES):
        redacted = _FIELD.sub(_redact_field, redact_ref(text))
        if redacted == text:
            break
        text = redacted
    return text


def is_secret_param(name: str, *, in_query: bool = True) -> bool:
    """Whether a query parameter (or, with ``in_query=False``, a header or field) is a secret."""
    lowered = unquote_plus(name).strip().lower()
    return (
        lowered in _SECRET_NAMES
        or lowered.endswith(_SECRET_ENDINGS)
        or (in_query and lowered in _QUERY_SECRET_NAMES)
    )


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's message and traceback before it is written.

    Install it on handlers, not loggers: a logger's filters miss records its children log.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the record's text by its redaction; never drop a record."""
        record.msg, record.args = redact(record.getMessage()), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def _redact_url(match: re.Match[str]) -> str:
    # user:password keeps the user; a user alone is often a token (https://TOKEN@host/).
    token = f"{MASK}@" if match["token"] else ""
    password = match["password"]
    if password == "@":  # ``redis://:@host``: no password to hide, none to invent
        token += f"{match['user']}:@"
    elif password is not None:
        token += f"{match['user']}:{MASK}{'@' if password.endswith('@') else ''}"
    url = match["authority"] + match["rest"]
    path, question, after = url.partition("?")
    if question:
        query, hash_, fragment = after.partition("#")
        url = f"{path}?{_redact_query(query)}{hash_}{fragment}"
    return f"{match['head']}{token}{url}"


def _redact_query(query: str) -> str:
    pairs = (pair.partition("=") for pair in query.split("&"))
    return "&".join(
        f"{name}={MASK}" if equals and is_secret_param(name) else f"{name}{equals}{value}"
        for name, equals, value in pairs
    )


def _redact_field(match: re.Match[str]) -> str:
    before = match.string[match.start() - 1 : match.start()]
    in_query = before in ("?", "&") and match["sep"] == "="
    if not is_secret_param(match["name"], in_query=in_query):
        return match[0]
    return f"{match['name']}{match['sep']}{MASK}"
