"""AWS Signature Version 4, checked as AWS checks it, for fake upstreams that stand in for AWS.

`verify` rebuilds the signature of a request as it was received: the time from `x-amz-date`, the
headers that `Authorization` lists as signed, the canonical request from the method, the URL's
path and query, and the body. Only the standard library is used.
"""

import hashlib
import hmac
import re
import urllib.parse

ALGORITHM = "AWS4-HMAC-SHA256"
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")


def _uri_encode(component) -> str:
    # quote() keeps exactly AWS's unreserved characters (A-Z a-z 0-9 - _ . ~) when nothing else is safe.
    return urllib.parse.quote(component, safe="")


def _canonical_uri(path: str) -> str:
    # Not S3: each segment of the path as received is encoded once more, so %3A is signed as %253A.
    return "/".join(_uri_encode(segment) for segment in path.split("/")) if path else "/"


def _canonical_query(query: str) -> str:
    # parse_qsl would read "+" as a space; AWS reads a query as percent-encoded bytes only.
    parameters = []
    for parameter in filter(None, query.split("&")):
        name, _, value = parameter.partition("=")
        parameters.append((_uri_encode(urllib.parse.unquote_to_bytes(name)),
                           _uri_encode(urllib.parse.unquote_to_bytes(value))))
    return "&".join(f"{name}={value}" for name, value in sorted(parameters))


def _canonical_value(value: str) -> str:
    return " ".join(value.split())


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def _parse_authorization(authorization: str) -> dict:
    algorithm, _, fields = authorization.partition(" ")
    if algorithm != ALGORITHM:
        raise AssertionError(f"Authorization is not {ALGORITHM}: {authorization!r}")
    parsed = {}
    for field in fields.split(","):
        name, equals, value = field.strip().partition("=")
        if not equals:
            raise AssertionError(f"Authorization has a field without a value: {field!r}")
        parsed[name] = value
    missing = {"Credential", "SignedHeaders", "Signature"} - parsed.keys()
    if missing:
        raise AssertionError(f"Authorization lacks {', '.join(sorted(missing))}: {authorization!r}")
    return parsed


def verify(method: str, url: str, headers: dict, body: bytes, access_key_id: str, secret_access_key: str,
           region: str, service: str) -> None:
    """Raises AssertionError, saying why, unless the request carries a valid signature by these
    credentials for this region and service. `url` is the request's as received (path and query
    encoded as sent); the host is the `Host` header's, or the URL's when there is none."""
    received: dict[str, list[str]] = {}
    for name, value in headers.items():
        received.setdefault(name.strip().lower(), []).append(value)

    def single(name: str) -> str:
        values = received.get(name, [])
        if len(values) != 1:
            raise AssertionError(f"expected one {name} header, got {len(values)}")
        return values[0]

    fields = _parse_authorization(single("authorization"))
    credential = fields["Credential"].split("/")
    if len(credential) != 5:
        raise AssertionError(f"the credential is not key/date/region/service/aws4_request: {fields['Credential']!r}")
    key_id, date, signed_region, signed_service, terminator = credential
    if key_id != access_key_id:
        raise AssertionError(f"signed with access key id {key_id!r}, expected {access_key_id!r}")
    if (signed_region, signed_service, terminator) != (region, service, "aws4_request"):
        raise AssertionError(f"wrong credential scope {'/'.join(credential[1:])!r}: "
                             f"expected region {region!r} and service {service!r}")
    amz_date = single("x-amz-date")
    if not _AMZ_DATE.fullmatch(amz_date):
        raise AssertionError(f"x-amz-date is not YYYYMMDDTHHMMSSZ: {amz_date!r}")
    if amz_date[:8] != date:
        raise AssertionError(f"the credential's date {date} is not x-amz-date's day {amz_date[:8]}")

    split = urllib.parse.urlsplit(url)
    if "host" not in received:
        received["host"] = [split.netloc]
    signed_headers = fields["SignedHeaders"].split(";")
    if signed_headers != sorted(set(signed_headers)):
        raise AssertionError(f"SignedHeaders is not sorted, or repeats a name: {fields['SignedHeaders']!r}")
    for required in ("host", "x-amz-date"):
        if required not in signed_headers:
            raise AssertionError(f"{required} is not among the signed headers {fields['SignedHeaders']!r}")
    if "x-amz-security-token" in received and "x-amz-security-token" not in signed_headers:
        raise AssertionError("x-amz-security-token was sent but not signed")
    lines = []
    for name in signed_headers:
        if name not in received:
            raise AssertionError(f"the signed header {name} is missing from the request")
        lines.append(f"{name}:{','.join(_canonical_value(value) for value in received[name])}\n")

    canonical_request = "\n".join([
        method.upper(),
        _canonical_uri(split.path),
        _canonical_query(split.query),
        "".join(lines),
        fields["SignedHeaders"],
        hashlib.sha256(body).hexdigest(),
    ])
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = _hmac(f"AWS4{secret_access_key}".encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields["Signature"]):
        raise AssertionError(f"the signature does not match the request (wrong secret, or a changed body, "
                             f"header or URL); the canonical request as received was:\n{canonical_request}")
