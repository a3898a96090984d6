"""The sandbox's door: only signed requests from its own host names, no foreign Origin, no CORS.

The sandbox runs code as the student (Lambda, EC2, SageMaker), so whoever can call it can run code on
the student's machine. Without this guard any web page could (moto reflects any Origin in CORS
headers, answers any Host, so DNS rebinding works, and needs no signature), and so could any other
local user. `Guard` wraps the server's WSGI app and refuses, with the errors AWS gives:
- OPTIONS (CORS preflights) and any request whose `Origin` is not the dashboard's;
- any `Host` other than 127.0.0.1 / localhost (or a *.localhost bucket name) on the sandbox's port;
- any request not signed with SigV4 (Authorization header or presigned URL) by the sandbox's own keys
  or keys it issued (role credentials of functions, IAM users' keys), the signature recomputed here;
  S3's payload variants (a SHA-256, UNSIGNED-PAYLOAD, aws-chunked STREAMING-* with chunk signatures
  and trailers) are checked as S3 does, and a request more than 15 minutes off is refused.
Only the open paths (the health route) skip the signature; the Host and Origin rules hold for all.
Every response loses its Access-Control-* headers, so browsers never let a page read an answer.
"""
from __future__ import annotations

import calendar
import email.utils
import functools
import hashlib
import hmac
import io
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote_plus, urlsplit

log = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

DEFAULT_DASHBOARD_ORIGINS = ("http://localhost:8501", "http://127.0.0.1:8501")
ORIGINS_ENV = "MLOPS_LAB_DASHBOARD_ORIGINS"
MAX_SKEW_S = 15 * 60  # AWS refuses a request whose time is more than 15 minutes off
MAX_PRESIGN_S = 7 * 24 * 3600
ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
# Read (and drop) at most this much of a refused request's body, so the client sees the answer.
DRAIN_LIMIT = 16 * 1024 * 1024
_HEX64 = re.compile(r"[0-9a-f]{64}")
_LOCAL_NAMES = ("127.0.0.1", "localhost")
# Services answering in the query protocol's XML (the rest of the lab's services speak JSON).
_QUERY_SERVICES = frozenset({"iam", "sts", "sns", "sqs", "cloudformation", "elasticloadbalancing", "autoscaling",
                             "rds", "elasticache", "redshift", "ses", "monitoring", "cloudsearch", "sdb"})


def dashboard_origins() -> frozenset[str]:
    """The Origins allowed to reach the sandbox: $MLOPS_LAB_DASHBOARD_ORIGINS (comma or space separated),
    else the dashboard's default addresses."""
    raw = os.environ.get(ORIGINS_ENV, "")
    chosen = [o for o in re.split(r"[,\s]+", raw) if o] or list(DEFAULT_DASHBOARD_ORIGINS)
    return frozenset(o.rstrip("/").lower() for o in chosen)


@dataclass(frozen=True)
class Key:
    """A secret the sandbox accepts; `session_token` and `expires` (epoch s) for temporary credentials."""

    secret: str
    session_token: str | None = None
    expires: float | None = None


# access key id -> Key, or None if the sandbox does not know it
KeyLookup = Callable[[str], "Key | None"]


class Refused(Exception):
    """A request the guard answers itself: HTTP status, AWS error code (per style) and message."""

    def __init__(self, status: int, codes: Mapping[str, str] | str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.codes = {"default": codes} if isinstance(codes, str) else dict(codes)
        self.message = message

    def code(self, style: str) -> str:
        return self.codes.get(style) or self.codes.get("default") or next(iter(self.codes.values()))


# The AWS error of each kind of refusal, by answer style (s3, query, ec2, json).
def _access_denied(message: str) -> Refused:
    return Refused(403, {"default": "AccessDenied", "json": "AccessDeniedException",
                         "ec2": "UnauthorizedOperation"}, message)


def _missing_auth() -> Refused:
    return Refused(403, {"s3": "AccessDenied", "query": "MissingAuthenticationToken", "ec2": "AuthFailure",
                         "json": "MissingAuthenticationTokenException"},
                   "Request is missing Authentication Token (the sandbox answers only requests signed with "
                   "its keys: see `make run` or the Setup page)")


def _incomplete(message: str) -> Refused:
    return Refused(403, {"s3": "AuthorizationHeaderMalformed", "query": "IncompleteSignature",
                         "ec2": "AuthFailure", "json": "IncompleteSignatureException"}, message)


def _unknown_key() -> Refused:
    return Refused(403, {"s3": "InvalidAccessKeyId", "query": "InvalidClientTokenId", "ec2": "AuthFailure",
                         "json": "UnrecognizedClientException"},
                   "The security token included in the request is invalid (the sandbox does not know this "
                   "access key id).")


def _bad_token() -> Refused:
    return Refused(403, {"s3": "InvalidToken", "query": "InvalidClientTokenId", "ec2": "AuthFailure",
                         "json": "UnrecognizedClientException"},
                   "The security token included in the request is invalid.")


def _expired_token() -> Refused:
    return Refused(403, {"default": "ExpiredToken", "json": "ExpiredTokenException"},
                   "The security token included in the request is expired")


def _bad_signature() -> Refused:
    return Refused(403, {"default": "SignatureDoesNotMatch", "ec2": "AuthFailure", "json": "InvalidSignatureException"},
                   "The request signature we calculated does not match the signature you provided. "
                   "Check your key and signing method.")


def _skewed(stamp: str, now: float) -> Refused:
    now_stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    return Refused(403, {"s3": "RequestTimeTooSkewed", "ec2": "AuthFailure", "query": "SignatureDoesNotMatch",
                         "json": "InvalidSignatureException"},
                   f"Signature expired: {stamp} is now earlier than {now_stamp} minus 15 min, or later than it "
                   "plus 15 min (the difference between the request time and the current time is too large).")


# --- what a request says -----------------------------------------------------------------------

def _header(environ: Mapping[str, Any], name: str) -> str | None:
    """A request header from the WSGI environ (name in lower case)."""
    if name == "content-type":
        return environ.get("CONTENT_TYPE")
    if name == "content-length":
        return environ.get("CONTENT_LENGTH")
    return environ.get("HTTP_" + name.upper().replace("-", "_"))


def _raw_path_and_query(environ: Mapping[str, Any]) -> tuple[str, str]:
    """The path and query exactly as the client sent them (werkzeug keeps the request target in RAW_URI)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw is None:
        return quote(environ.get("PATH_INFO", "") or "/", safe="/~%!$&'()*+,;=:@"), environ.get("QUERY_STRING", "")
    if not raw.startswith("/"):  # absolute-form request target
        parts = urlsplit(raw)
        return parts.path or "/", parts.query
    path, _, query = raw.partition("?")
    return path or "/", query


def _query_pairs(query: str) -> list[tuple[str, str]]:
    return [(k, v) for k, _, v in (p.partition("=") for p in query.split("&") if p)]


def _canonical_queries(pairs: list[tuple[str, str]]) -> list[str]:
    """The canonical query string as botocore builds it (as sent, sorted), then as AWS re-encodes it."""
    as_sent = "&".join(f"{k}={v}" for k, v in sorted(pairs))
    encoded = sorted((quote(unquote_plus(k), safe="-_.~"), quote(unquote_plus(v), safe="-_.~")) for k, v in pairs)
    reencoded = "&".join(f"{k}={v}" for k, v in encoded)
    return [as_sent] if reencoded == as_sent else [as_sent, reencoded]


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 dot-segment removal plus AWS's collapsing of empty segments (botocore's normalize_url_path)."""
    out: list[str] = []
    for segment in path.split("/"):
        if segment and segment != ".":
            if segment == "..":
                if out:
                    out.pop()
            else:
                out.append(segment)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and out else ""
    return first + "/".join(out) + last


def _canonical_uri(raw_path: str, service: str) -> str:
    if service == "s3":  # S3 signs the path as sent; every other service normalises and encodes it again
        return raw_path or "/"
    return quote(_remove_dot_segments(raw_path) or "/", safe="/~")


def _trim(value: str) -> str:
    return " ".join(value.split())


@functools.lru_cache(maxsize=256)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _hmac_hex(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def _stamp_seconds(stamp: str) -> float | None:
    """Epoch seconds of a SigV4 timestamp (20240131T235959Z); None if malformed. (strptime is slow.)"""
    if len(stamp) != 16 or stamp[8] != "T" or stamp[15] != "Z" or not (stamp[:8] + stamp[9:15]).isdigit():
        return None
    fields = (int(stamp[0:4]), int(stamp[4:6]), int(stamp[6:8]), int(stamp[9:11]), int(stamp[11:13]), int(stamp[13:15]))
    if not (1 <= fields[1] <= 12 and 1 <= fields[2] <= 31 and fields[3] < 24 and fields[4] < 60 and fields[5] < 61):
        return None
    return float(calendar.timegm(fields + (0, 0, 0)))


@dataclass
class _Signed:
    """The parts of a SigV4 request the signature covers."""

    key_id: str
    date: str
    region: str
    service: str
    signed_headers: list[str]
    signature: str
    stamp: str
    token: str | None
    presigned: bool
    expires_s: int = 0

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


def _parse_credential(credential: str) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts):
        raise _incomplete(f"Credential should be scoped to a valid region and service: {credential!r}")
    return parts[0], parts[1], parts[2], parts[3]


def _parse_authorization(environ: Mapping[str, Any], authorization: str) -> _Signed:
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise _incomplete(f"The authorization mechanism {algorithm or authorization!r} is not supported: "
                          f"use {ALGORITHM}.")
    fields: dict[str, str] = {}
    for item in rest.split(","):
        name, eq, value = item.strip().partition("=")
        if eq:
            fields[name.strip()] = value.strip()
    missing = [f for f in ("Credential", "SignedHeaders", "Signature") if not fields.get(f)]
    if missing:
        raise _incomplete(f"Authorization header requires {', '.join(missing)} parameter(s).")
    key_id, date, region, service = _parse_credential(fields["Credential"])
    stamp = _header(environ, "x-amz-date")
    if stamp is None:
        date_header = _header(environ, "date")
        parsed = email.utils.parsedate_tz(date_header) if date_header else None
        if parsed is None:
            raise _incomplete("Authorization requires a valid Date or X-Amz-Date header.")
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(email.utils.mktime_tz(parsed)))
    return _Signed(key_id, date, region, service, fields["SignedHeaders"].lower().split(";"),
                   fields["Signature"].lower(), stamp.strip(), _header(environ, "x-amz-security-token"), False)


def _parse_presigned(params: Mapping[str, str]) -> _Signed:
    if params.get("X-Amz-Algorithm") != ALGORITHM:
        raise _incomplete(f"X-Amz-Algorithm must be {ALGORITHM}.")
    missing = [f for f in ("X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature")
               if not params.get(f)]
    if missing:
        raise _incomplete(f"The presigned URL lacks {', '.join(missing)}.")
    key_id, date, region, service = _parse_credential(params["X-Amz-Credential"])
    try:
        expires = int(params.get("X-Amz-Expires", "900"))
    except ValueError:
        raise _incomplete("X-Amz-Expires must be a number of seconds.") from None
    if not 0 < expires <= MAX_PRESIGN_S:
        raise _incomplete("X-Amz-Expires must be between 1 and 604800 seconds.")
    return _Signed(key_id, date, region, service, params["X-Amz-SignedHeaders"].lower().split(";"),
                   params["X-Amz-Signature"].lower(), params["X-Amz-Date"], params.get("X-Amz-Security-Token"),
                   True, expires)


# --- aws-chunked bodies ------------------------------------------------------------------------

def _verify_chunks(body: bytes, signed: _Signed, key: bytes, seed: str, *, signed_chunks: bool,
                   trailer: bool) -> None:
    """Check an aws-chunked body: each chunk's signature chained from the seed, then the trailer's."""
    pos, previous = 0, seed
    while True:
        end = body.find(b"\r\n", pos)
        if end < 0:
            raise _incomplete("The aws-chunked body is truncated.")
        size_text, _, extension = body[pos:end].decode("latin-1").partition(";")
        try:
            size = int(size_text, 16)
        except ValueError:
            raise _incomplete("The aws-chunked body has a malformed chunk header.") from None
        data = body[end + 2:end + 2 + size]
        if len(data) != size:
            raise _incomplete("The aws-chunked body is truncated.")
        if signed_chunks:
            name, _, chunk_signature = extension.partition("=")
            expected = _hmac_hex(key, "\n".join([
                "AWS4-HMAC-SHA256-PAYLOAD", signed.stamp, signed.scope, previous, EMPTY_SHA256,
                hashlib.sha256(data).hexdigest()]))
            if name.strip() != "chunk-signature" or not hmac.compare_digest(chunk_signature.strip().lower(), expected):
                raise _bad_signature()
            previous = expected
        pos = end + 2 + size
        if size == 0:
            break
        if body[pos:pos + 2] != b"\r\n":
            raise _incomplete("The aws-chunked body has a malformed chunk.")
        pos += 2
    if not (trailer and signed_chunks):
        return
    # Trailer: "name:value" lines, then x-amz-trailer-signature, then an empty line.
    lines = body[pos:].decode("latin-1").split("\r\n")
    trailers, trailer_signature = [], None
    for line in lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "x-amz-trailer-signature":
            trailer_signature = value.strip().lower()
        elif line:
            trailers.append(f"{name.strip().lower()}:{value.strip()}\n")
    expected = _hmac_hex(key, "\n".join([
        "AWS4-HMAC-SHA256-TRAILER", signed.stamp, signed.scope, previous,
        hashlib.sha256("".join(trailers).encode()).hexdigest()]))
    if trailer_signature is None or not hmac.compare_digest(trailer_signature, expected):
        raise _bad_signature()


# --- the middleware ----------------------------------------------------------------------------

class Guard:
    """WSGI middleware enforcing the rules above in front of `app` (see the module docstring).

    own_key(id) returns the secret of the sandbox's own key, issued_key(id) a Key moto issued; None if
    unknown. open_paths are answered without a signature (GET/HEAD only). clock is for tests.
    """

    def __init__(self, app: WsgiApp, *, own_key: Callable[[str], str | None], issued_key: KeyLookup,
                 open_paths: Iterable[str] = (), allowed_origins: Iterable[str] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.app = app
        self.own_key = own_key
        self.issued_key = issued_key
        self.open_paths = frozenset(open_paths)
        self.allowed_origins = (dashboard_origins() if allowed_origins is None
                                else frozenset(o.rstrip("/").lower() for o in allowed_origins))
        self.clock = clock
        self._last_logged: dict[str, float] = {}

    @classmethod
    def wrapping(cls, **kwargs: Any) -> Callable[[WsgiApp], WsgiApp]:
        """Return app -> Guard(app, **kwargs), for servers that build the app themselves."""
        return lambda app: cls(app, **kwargs)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def without_cors(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers = [(k, v) for k, v in headers if not k.lower().startswith("access-control-")]
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        try:
            self._check(environ)
        except Refused as refused:
            return self._refuse(environ, start_response, refused)
        return self.app(environ, without_cors)

    # --- the rules ---------------------------------------------------------------------------
    def _check(self, environ: dict[str, Any]) -> None:
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "OPTIONS":
            raise _access_denied("CORS preflight refused: the sandbox answers no cross-origin requests.")
        self._check_host(environ)
        origin = _header(environ, "origin")
        if origin is not None and origin.rstrip("/").lower() not in self.allowed_origins:
            raise _access_denied(f"Requests from the web origin {origin!r} are refused: the sandbox answers only "
                                 f"its own tools (allowed origins: ${ORIGINS_ENV}).")
        if method in ("GET", "HEAD") and environ.get("PATH_INFO", "") in self.open_paths:
            return
        self._check_signature(environ)

    def _check_host(self, environ: Mapping[str, Any]) -> None:
        host = (_header(environ, "host") or "").strip().lower()
        name, colon, port = host.rpartition(":")
        if not colon:  # no port given: only right if the sandbox listens on HTTP's default port
            name, port = host, "80"
        # *.localhost always means this machine (RFC 6761; browsers resolve it themselves), so a page on
        # another site cannot rebind it; boto3 addresses S3 buckets as <bucket>.localhost:<port>.
        local = name in _LOCAL_NAMES or name.endswith(".localhost")
        if not local or port != str(environ.get("SERVER_PORT", "")):
            raise _access_denied(f"Host {host!r} refused: the sandbox answers only 127.0.0.1 and localhost on its "
                                 "own port.")

    def _check_signature(self, environ: dict[str, Any]) -> None:
        raw_path, raw_query = _raw_path_and_query(environ)
        pairs = _query_pairs(raw_query)
        authorization = _header(environ, "authorization")
        params = {unquote_plus(k): unquote_plus(v) for k, v in pairs if k.startswith("X-Amz-")}
        if authorization is None and "X-Amz-Signature" not in params and "X-Amz-Credential" not in params:
            if "Signature" in params or "AWSAccessKeyId" in {unquote_plus(k) for k, _ in pairs}:
                raise _incomplete(f"Signature version 2 is not supported: use {ALGORITHM}.")
            raise _missing_auth()
        if authorization is not None and "X-Amz-Signature" in params:
            raise _incomplete("Only one auth mechanism allowed: the Authorization header or the query parameters.")
        if authorization is not None:
            signed = _parse_authorization(environ, authorization)
        else:
            signed = _parse_presigned(params)
            pairs = [(k, v) for k, v in pairs if unquote_plus(k) != "X-Amz-Signature"]
        environ["lab.guard.service"] = signed.service  # picks the error style if a later rule refuses

        now = self.clock()
        when = _stamp_seconds(signed.stamp)
        if when is None or signed.stamp[:8] != signed.date:
            raise _incomplete(f"The request date {signed.stamp!r} is malformed or is not the credential's date "
                              f"{signed.date!r}.")
        if signed.presigned:
            if now < when - MAX_SKEW_S:
                raise _skewed(signed.stamp, now)
            if now > when + signed.expires_s:
                raise _access_denied("Request has expired")
        elif abs(now - when) > MAX_SKEW_S:
            raise _skewed(signed.stamp, now)
        if "host" not in signed.signed_headers:
            raise _incomplete("'Host' must be a 'SignedHeader' in the AWS Authorization.")

        key = self._key(signed.key_id)
        if key is None:
            raise _unknown_key()
        if key.session_token is not None:
            if signed.token is None or not hmac.compare_digest(signed.token, key.session_token):
                raise _bad_token()
            if key.expires is not None and now > key.expires:
                raise _expired_token()
        # The sandbox's own key ignores a session token: a shell may keep AWS_SESSION_TOKEN from a
        # learner lab after `export`-ing the sandbox's keys, and the token grants nothing here.

        declared = _header(environ, "x-amz-content-sha256")
        if signed.presigned and declared is None:
            declared = params.get("X-Amz-Content-Sha256") or (UNSIGNED_PAYLOAD if signed.service == "s3" else None)
        body: bytes | None = None
        if declared is None:
            if signed.service == "s3":
                raise Refused(400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
            body = _read_body(environ)
            payload_hash = hashlib.sha256(body).hexdigest()
        else:
            declared = declared.strip()
            if not (_HEX64.fullmatch(declared) or declared in (UNSIGNED_PAYLOAD, STREAMING_SIGNED,
                                                               STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER)):
                raise Refused(400, {"default": "InvalidArgument", "json": "InvalidSignatureException"},
                              "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-…-PAYLOAD(-TRAILER), "
                              "or a valid sha256 value.")
            payload_hash = declared

        signing_key = _signing_key(key.secret, signed.date, signed.region, signed.service)
        header_lines = "".join(f"{name}:{_trim(_header(environ, name) or '')}\n" for name in signed.signed_headers)
        prefix = "\n".join([ALGORITHM, signed.stamp, signed.scope]) + "\n"
        for query in _canonical_queries(pairs):
            canonical = "\n".join([environ.get("REQUEST_METHOD", "GET"), _canonical_uri(raw_path, signed.service),
                                   query, header_lines, ";".join(signed.signed_headers), payload_hash])
            expected = _hmac_hex(signing_key, prefix + hashlib.sha256(canonical.encode()).hexdigest())
            if hmac.compare_digest(expected, signed.signature):
                break
        else:
            raise _bad_signature()

        # The signature holds; now the body must be what it promised.
        if declared is not None and _HEX64.fullmatch(declared):
            body = _read_body(environ)
            if not hmac.compare_digest(hashlib.sha256(body).hexdigest(), declared):
                raise Refused(400, {"default": "XAmzContentSHA256Mismatch", "json": "InvalidSignatureException"},
                              "The provided 'x-amz-content-sha256' header does not match what was computed.")
        elif declared in (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER):
            body = _read_body(environ)
            _verify_chunks(body, signed, signing_key, signed.signature, signed_chunks=True,
                           trailer=declared == STREAMING_SIGNED_TRAILER)

    def _key(self, key_id: str) -> Key | None:
        secret = self.own_key(key_id)
        if secret is not None:
            return Key(secret)
        return self.issued_key(key_id)

    # --- the answer --------------------------------------------------------------------------
    def _refuse(self, environ: dict[str, Any], start_response: Callable[..., Any], refused: Refused) -> list[bytes]:
        style = _style(environ)
        code = refused.code(style)
        request_id = str(uuid.uuid4())
        self._log(environ, code, refused.message)
        if "lab.guard.body" not in environ:
            _drain(environ)
        body, content_type = _error_body(style, code, refused.message, request_id)
        headers = [("Content-Type", content_type), ("x-amz-request-id", request_id),
                   ("x-amzn-RequestId", request_id)]
        if style == "json":
            headers.append(("x-amzn-ErrorType", code))
        if environ.get("REQUEST_METHOD") == "HEAD":
            body = b""
        headers.append(("Content-Length", str(len(body))))
        start_response(f"{refused.status} {'Forbidden' if refused.status == 403 else 'Bad Request'}", headers)
        return [body]

    def _log(self, environ: Mapping[str, Any], code: str, message: str) -> None:
        # A page retrying in a loop must not flood the log: one line per code every 10 s.
        now = time.monotonic()
        level = logging.WARNING if now - self._last_logged.get(code, -1e9) > 10 else logging.DEBUG
        if level == logging.WARNING:
            self._last_logged[code] = now
        log.log(level, "refused %s %s (Host %s, Origin %s): %s %s", environ.get("REQUEST_METHOD"),
                environ.get("PATH_INFO"), _header(environ, "host"), _header(environ, "origin"), code, message)


def _read_body(environ: dict[str, Any]) -> bytes:
    """Read the whole request body and put it back as a fresh stream for the app (read once)."""
    if "lab.guard.body" in environ:
        return environ["lab.guard.body"]
    stream = environ.get("wsgi.input")
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if stream is None:
        body = b""
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        body = stream.read(length) if length > 0 else b""  # one read, one copy (a 50 MB layer is common)
        while 0 < len(body) < length:
            more = stream.read(length - len(body))
            if not more:
                break
            body += more
    environ["lab.guard.body"] = body
    environ["wsgi.input"] = io.BytesIO(body)  # shares the bytes until written to
    return body


def _drain(environ: dict[str, Any]) -> None:
    """Read what is left of a refused request's body (up to a limit), so the client reads the answer."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return
    try:
        left = min(int(environ.get("CONTENT_LENGTH") or 0), DRAIN_LIMIT)
        if environ.get("wsgi.input_terminated"):
            left = DRAIN_LIMIT
        while left > 0:
            chunk = stream.read(min(left, 65536))
            if not chunk:
                break
            left -= len(chunk)
    except (OSError, ValueError):
        pass


def _style(environ: Mapping[str, Any]) -> str:
    """How the service the request is for answers errors: s3 (XML Error), query, ec2, or json."""
    service = environ.get("lab.guard.service")
    if service is None:
        authorization = _header(environ, "authorization") or ""
        credential = authorization.partition("Credential=")[2] or \
            unquote_plus(environ.get("QUERY_STRING", "").partition("X-Amz-Credential=")[2])
        parts = credential.split("/")
        service = parts[3] if len(parts) > 3 else None
    if service == "s3":
        return "s3"
    if service == "ec2":
        return "ec2"
    content_type = (_header(environ, "content-type") or "").lower()
    if service in _QUERY_SERVICES and "json" not in content_type:
        return "query"
    if service is not None:
        return "json"
    if "json" in content_type or _header(environ, "x-amz-target"):
        return "json"
    if content_type.startswith("application/x-www-form-urlencoded"):
        return "query"
    return "s3"


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _error_body(style: str, code: str, message: str, request_id: str) -> tuple[bytes, str]:
    if style == "json":
        import json

        return json.dumps({"__type": code, "message": message}).encode(), "application/x-amz-json-1.1"
    code_x, message_x = _xml_escape(code), _xml_escape(message)
    if style == "query":
        text = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code_x}</Code><Message>{message_x}</Message>"
                f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>")
    elif style == "ec2":
        text = (f"<Response><Errors><Error><Code>{code_x}</Code><Message>{message_x}</Message></Error></Errors>"
                f"<RequestID>{request_id}</RequestID></Response>")
    else:
        text = (f"<Error><Code>{code_x}</Code><Message>{message_x}</Message><RequestId>{request_id}</RequestId>"
                "</Error>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + text).encode(), "application/xml"
