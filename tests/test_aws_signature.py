"""tests/aws_signature.py, the fake upstreams' SigV4 check, against AWS's published test vectors.

The requests and Authorization values are the `get-vanilla` and `post-x-www-form-urlencoded`
cases of AWS's aws-sig-v4-test-suite (example credentials, us-east-1, service `service`,
2015-08-30T12:36:00Z). These tests use no fixture: they need no worker.
"""

import pytest

from aws_signature import verify

ACCESS_KEY_ID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SCOPE = "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"

GET_VANILLA = {
    "method": "GET",
    "url": "https://example.amazonaws.com/",
    "headers": {
        "Host": "example.amazonaws.com",
        "X-Amz-Date": "20150830T123600Z",
        "Authorization": f"AWS4-HMAC-SHA256 Credential={SCOPE}, SignedHeaders=host;x-amz-date, "
                         "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    },
    "body": b"",
}

POST_FORM = {
    "method": "POST",
    "url": "https://example.amazonaws.com/",
    "headers": {
        "Content-Type": "application/x-www-form-urlencoded",
        "Host": "example.amazonaws.com",
        "X-Amz-Date": "20150830T123600Z",
        "Authorization": f"AWS4-HMAC-SHA256 Credential={SCOPE}, SignedHeaders=content-type;host;x-amz-date, "
                         "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
    },
    "body": b"Param1=value1",
}


def check(request: dict, secret: str = SECRET, region: str = "us-east-1", service: str = "service") -> None:
    verify(request["method"], request["url"], request["headers"], request["body"], ACCESS_KEY_ID, secret, region,
           service)


@pytest.mark.parametrize("request_", [GET_VANILLA, POST_FORM], ids=["get-vanilla", "post-x-www-form-urlencoded"])
def test_the_published_vectors_verify(request_):
    check(request_)


def test_the_host_comes_from_the_url_when_no_host_header_was_received():
    headers = {name: value for name, value in GET_VANILLA["headers"].items() if name != "Host"}
    check(dict(GET_VANILLA, headers=headers))


def test_a_tampered_body_is_rejected():
    with pytest.raises(AssertionError, match="signature does not match"):
        check(dict(POST_FORM, body=b"Param1=value2"))


def test_a_wrong_secret_is_rejected():
    with pytest.raises(AssertionError, match="signature does not match"):
        check(GET_VANILLA, secret=SECRET.replace("EXAMPLE", "ELPMAXE"))


def test_a_wrong_scope_is_rejected():
    with pytest.raises(AssertionError, match="credential scope"):
        check(GET_VANILLA, region="us-west-2")
    with pytest.raises(AssertionError, match="credential scope"):
        check(GET_VANILLA, service="bedrock")


def test_a_missing_signed_header_is_rejected():
    headers = {name: value for name, value in POST_FORM["headers"].items() if name != "Content-Type"}
    with pytest.raises(AssertionError, match="signed header content-type is missing"):
        check(dict(POST_FORM, headers=headers))


def test_a_request_without_a_signature_is_rejected():
    headers = {name: value for name, value in GET_VANILLA["headers"].items() if name != "Authorization"}
    with pytest.raises(AssertionError, match="one authorization header"):
        check(dict(GET_VANILLA, headers=headers))
