use super::*;

mod vectors;

use vectors::VECTORS;

/// The example credentials, scope and time of AWS's SigV4 test suites.
const SUITE_CREDENTIALS: Credentials = Credentials {
    access_key_id: "AKIDEXAMPLE",
    secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    session_token: None,
};
const SUITE_SCOPE: Scope = Scope { region: "us-east-1", service: "service" };
/// 2015-08-30T12:36:00Z.
const SUITE_TIME: u64 = 1_440_938_160;

fn suite_credentials(session_token: Option<&'static str>) -> Credentials<'static> {
    Credentials { session_token, ..SUITE_CREDENTIALS }
}

fn owned(headers: &[(&str, &str)]) -> Vec<(String, String)> {
    headers.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect()
}

/// The value of the last header of this name.
fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().rev().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
}

#[test]
fn the_published_vectors_canonicalize_and_sign_as_the_suites_say() {
    for vector in VECTORS {
        let mut headers = owned(vector.headers);
        headers.push(("X-Amz-Date".to_string(), "20150830T123600Z".to_string()));
        if let Some(token) = vector.session_token {
            headers.push(("X-Amz-Security-Token".to_string(), token.to_string()));
        }
        let canonical = canonical_request(vector.method, vector.url, &headers, vector.body).unwrap();
        assert_eq!(canonical.text, vector.canonical_request.join("\n"), "{}: canonical request", vector.name);

        let to_sign = string_to_sign("20150830T123600Z", "20150830/us-east-1/service/aws4_request", &canonical.text);
        let expected = format!(
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n{}",
            vector.canonical_request_hash
        );
        assert_eq!(to_sign, expected, "{}: string to sign", vector.name);

        let mut headers = owned(vector.headers);
        let credentials = suite_credentials(vector.session_token);
        sign(vector.method, vector.url, &mut headers, vector.body, &credentials, &SUITE_SCOPE, SUITE_TIME).unwrap();
        let expected = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders={}, \
             Signature={}",
            canonical.signed_headers, vector.signature
        );
        assert_eq!(header(&headers, "authorization"), Some(expected.as_str()), "{}: authorization", vector.name);
        assert_eq!(header(&headers, "x-amz-date"), Some("20150830T123600Z"), "{}", vector.name);
        assert_eq!(header(&headers, "x-amz-security-token"), vector.session_token, "{}", vector.name);
        assert_eq!(headers.len(), vector.headers.len() + 2 + usize::from(vector.session_token.is_some()));
    }
}

#[test]
fn the_signing_key_is_the_documented_chain_of_hmacs() {
    // AWS's documented example of deriving a signing key (for IAM on 2015-08-30).
    let key =
        signing_key(SUITE_CREDENTIALS.secret_access_key, "20150830", &Scope { region: "us-east-1", service: "iam" });
    assert_eq!(hex(&key), "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
}

const BEDROCK_URL: &str =
    "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke";
const BEDROCK_BODY: &[u8] =
    br#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":16,"messages":[{"role":"user","content":"Hi"}]}"#;
const BEDROCK_SCOPE: Scope = Scope { region: "us-east-1", service: "bedrock" };
/// 2024-06-20T12:34:56Z.
const BEDROCK_TIME: u64 = 1_718_886_896;

fn bedrock_headers() -> Vec<(String, String)> {
    owned(&[("content-type", "application/json"), ("accept", "application/json")])
}

#[test]
fn a_bedrock_model_id_is_signed_encoded_once_more_than_sent() {
    let canonical = canonical_request("POST", BEDROCK_URL, &bedrock_headers(), BEDROCK_BODY).unwrap();
    assert_eq!(canonical.text.lines().nth(1), Some("/model/anthropic.claude-3-haiku-20240307-v1%253A0/invoke"));
    assert_eq!(canonical.text.lines().nth(2), Some(""), "no query");
    assert_eq!(canonical.signed_headers, "accept;content-type;host");
}

#[test]
fn a_bedrock_request_is_signed_as_botocore_signs_it() {
    // The expected values were computed with botocore's SigV4Auth (service `bedrock`, region
    // `us-east-1`) for this URL, body, these two headers and this time.
    let mut headers = bedrock_headers();
    sign("POST", BEDROCK_URL, &mut headers, BEDROCK_BODY, &SUITE_CREDENTIALS, &BEDROCK_SCOPE, BEDROCK_TIME).unwrap();
    assert_eq!(header(&headers, "x-amz-date"), Some("20240620T123456Z"));
    assert_eq!(
        header(&headers, "authorization"),
        Some(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240620/us-east-1/bedrock/aws4_request, \
             SignedHeaders=accept;content-type;host;x-amz-date, \
             Signature=ff242960af0b33f8e0a33b76e1ed57225982dee6de0df744409da28b1d8829f9"
        )
    );

    let token = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN+/=";
    let credentials = Credentials { session_token: Some(token), ..SUITE_CREDENTIALS };
    let mut headers = bedrock_headers();
    sign("POST", BEDROCK_URL, &mut headers, BEDROCK_BODY, &credentials, &BEDROCK_SCOPE, BEDROCK_TIME).unwrap();
    assert_eq!(header(&headers, "x-amz-security-token"), Some(token));
    assert_eq!(
        header(&headers, "authorization"),
        Some(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240620/us-east-1/bedrock/aws4_request, \
             SignedHeaders=accept;content-type;host;x-amz-date;x-amz-security-token, \
             Signature=52677b96d29b9f147e8d3a10dac62b5812275b61a21e4a449240fadc3fd10e82"
        )
    );
}

#[test]
fn signing_again_replaces_the_headers_signing_set() {
    let mut headers = bedrock_headers();
    let credentials = Credentials { session_token: Some("token"), ..SUITE_CREDENTIALS };
    sign("POST", BEDROCK_URL, &mut headers, BEDROCK_BODY, &credentials, &BEDROCK_SCOPE, BEDROCK_TIME).unwrap();
    let first = headers.clone();
    sign("POST", BEDROCK_URL, &mut headers, BEDROCK_BODY, &credentials, &BEDROCK_SCOPE, BEDROCK_TIME).unwrap();
    assert_eq!(headers, first, "the old date, token and authorization are neither signed nor kept");

    sign("POST", BEDROCK_URL, &mut headers, BEDROCK_BODY, &SUITE_CREDENTIALS, &BEDROCK_SCOPE, BEDROCK_TIME + 60)
        .unwrap();
    assert_eq!(header(&headers, "x-amz-date"), Some("20240620T123556Z"));
    assert_eq!(header(&headers, "x-amz-security-token"), None, "no token now, so none is sent");
    assert_eq!(headers.len(), 4);
}

#[test]
fn the_host_is_lower_cased_and_keeps_only_a_port_that_is_not_the_default() {
    let host_line = |url: &str| {
        let canonical = canonical_request("GET", url, &[] as &[(&str, &str)], b"").unwrap();
        canonical.text.lines().nth(3).unwrap().to_string()
    };
    assert_eq!(host_line("HTTPS://Example.AmazonAWS.com:443/a#fragment"), "host:example.amazonaws.com");
    assert_eq!(host_line("http://example.com:80"), "host:example.com");
    assert_eq!(host_line("http://example.com:443/"), "host:example.com:443");
    assert_eq!(host_line("https://127.0.0.1:8443?x=1"), "host:127.0.0.1:8443");
    assert_eq!(host_line("http://[::1]:8080/"), "host:[::1]:8080");
    assert_eq!(host_line("http://[::1]/"), "host:[::1]");
}

#[test]
fn the_query_is_decoded_encoded_and_sorted_by_name_then_value() {
    let query_line = |url: &str| {
        let canonical = canonical_request("GET", url, &[] as &[(&str, &str)], b"").unwrap();
        canonical.text.lines().nth(2).unwrap().to_string()
    };
    assert_eq!(query_line("https://h/?b=2&a=2&a=1"), "a=1&a=2&b=2");
    assert_eq!(query_line("https://h/?flag&&x=%7e%2f+y"), "flag=&x=~%2F%2By");
    assert_eq!(query_line("https://h/?q=caf\u{e9}&bad=%zz"), "bad=%25zz&q=caf%C3%A9");
    assert_eq!(query_line("https://h/?a=b=c"), "a=b%3Dc");
    assert_eq!(query_line("https://h/?"), "");
}

#[test]
fn non_ascii_in_the_path_is_encoded() {
    let canonical = canonical_request("GET", "https://h/caf\u{e9}/\u{1f600}", &[] as &[(&str, &str)], b"").unwrap();
    assert_eq!(canonical.text.lines().nth(1), Some("/caf%C3%A9/%F0%9F%98%80"));
}

#[test]
fn header_values_with_a_line_break_or_control_character_are_refused_and_nothing_is_added() {
    for value in ["a\r\nx-injected: 1", "a\nb", "a\rb", "nul\0", "del\u{7f}", "caf\u{e9}"] {
        let mut headers = owned(&[("x-custom", value)]);
        let error =
            sign("POST", BEDROCK_URL, &mut headers, b"", &SUITE_CREDENTIALS, &BEDROCK_SCOPE, BEDROCK_TIME).unwrap_err();
        assert_eq!(error, SignError::InvalidHeaderValue("x-custom".to_string()), "{value:?}");
        assert!(!error.to_string().contains(value), "the message names the header, not its value");
        assert_eq!(headers, owned(&[("x-custom", value)]), "{value:?}: unchanged on an error");
    }
    let mut headers = owned(&[("x-tab", "a\tb")]);
    sign("POST", BEDROCK_URL, &mut headers, b"", &SUITE_CREDENTIALS, &BEDROCK_SCOPE, BEDROCK_TIME).unwrap();
}

#[test]
fn header_names_that_are_not_tokens_are_refused() {
    for name in ["", "  ", "bad name", "colon:", "x\r\ny", "caf\u{e9}"] {
        let mut headers = owned(&[(name, "v")]);
        let error = sign("GET", BEDROCK_URL, &mut headers, b"", &SUITE_CREDENTIALS, &BEDROCK_SCOPE, 0).unwrap_err();
        assert!(matches!(error, SignError::InvalidHeaderName(_)), "{name:?}: {error}");
        assert!(!error.to_string().contains('\n'), "the name is shown escaped");
    }
    let mut headers = owned(&[("Host", "elsewhere.example")]);
    let error = sign("GET", BEDROCK_URL, &mut headers, b"", &SUITE_CREDENTIALS, &BEDROCK_SCOPE, 0).unwrap_err();
    assert_eq!(error, SignError::HostHeader);
}

#[test]
fn urls_that_are_not_absolute_http_urls_with_a_host_are_refused() {
    let refused = [
        ("example.amazonaws.com/model/x/invoke", SignError::NotAbsoluteHttpUrl),
        ("/model/x/invoke", SignError::NotAbsoluteHttpUrl),
        ("", SignError::NotAbsoluteHttpUrl),
        ("ftp://example.com/", SignError::NotAbsoluteHttpUrl),
        ("https:/example.com/", SignError::NotAbsoluteHttpUrl),
        ("https://", SignError::NotAbsoluteHttpUrl),
        ("https:///path", SignError::NotAbsoluteHttpUrl),
        ("https://?q", SignError::NotAbsoluteHttpUrl),
        ("https://user:pass@example.com/", SignError::InvalidHost),
        ("https://exa mple.com/", SignError::InvalidHost),
        ("https://example.com:port/", SignError::InvalidHost),
        ("https://example.com:99999/", SignError::InvalidHost),
        ("https://example.com:+1/", SignError::InvalidHost),
        ("https://[::1/", SignError::InvalidHost),
        ("https://[]/", SignError::InvalidHost),
        ("https://[::1]x/", SignError::InvalidHost),
        ("https://ex\u{e4}mple.com/", SignError::InvalidHost),
        ("https://example.com/a\r\nx-injected: 1", SignError::ControlCharacterInUrl),
        ("https://example.com/\0", SignError::ControlCharacterInUrl),
    ];
    for (url, expected) in refused {
        let mut headers = Vec::new();
        let error = sign("GET", url, &mut headers, b"", &SUITE_CREDENTIALS, &BEDROCK_SCOPE, 0).unwrap_err();
        assert_eq!(error, expected, "{url:?}");
        assert!(headers.is_empty());
    }
}

#[test]
fn methods_scopes_and_credentials_that_would_break_the_signature_are_refused() {
    let attempt = |method: &str, credentials: &Credentials, scope: &Scope| {
        sign(method, BEDROCK_URL, &mut Vec::new(), b"", credentials, scope, BEDROCK_TIME).unwrap_err()
    };
    for method in ["", "GET POST", "GET\r\n"] {
        assert_eq!(attempt(method, &SUITE_CREDENTIALS, &BEDROCK_SCOPE), SignError::InvalidMethod, "{method:?}");
    }
    for scope in [
        Scope { region: "", service: "bedrock" },
        Scope { region: "us-east-1/x", service: "bedrock" },
        Scope { region: "us-east-1", service: "Bedrock" },
        Scope { region: "us-east-1", service: "bed rock" },
    ] {
        assert_eq!(attempt("POST", &SUITE_CREDENTIALS, &scope), SignError::InvalidScope, "{scope:?}");
    }
    let s3 = Scope { region: "us-east-1", service: "s3" };
    assert_eq!(attempt("PUT", &SUITE_CREDENTIALS, &s3), SignError::S3NotSupported);
    for access_key_id in ["", "AKID/EXAMPLE", "AKID, x", "AKID\n"] {
        let credentials = Credentials { access_key_id, ..SUITE_CREDENTIALS };
        assert_eq!(attempt("POST", &credentials, &BEDROCK_SCOPE), SignError::InvalidAccessKeyId, "{access_key_id:?}");
    }
    let credentials = Credentials { session_token: Some("token\r\nx-injected: 1"), ..SUITE_CREDENTIALS };
    let error = attempt("POST", &credentials, &BEDROCK_SCOPE);
    assert_eq!(error, SignError::InvalidSessionToken);
    assert!(!error.to_string().contains("token\r"));
}

#[test]
fn credentials_show_no_secret_when_debugged() {
    let credentials = Credentials { session_token: Some("the-session-token"), ..SUITE_CREDENTIALS };
    let shown = format!("{credentials:?}");
    assert!(shown.contains("AKIDEXAMPLE"), "{shown}");
    assert!(!shown.contains(SUITE_CREDENTIALS.secret_access_key), "{shown}");
    assert!(!shown.contains("the-session-token"), "{shown}");
    assert!(!format!("{:?}", SUITE_CREDENTIALS).contains("wJalr"));
}

#[test]
fn huge_inputs_are_signed_without_a_panic() {
    let long_segment = "a%3A".repeat(250_000);
    let many_parameters: Vec<String> = (0..20_000).map(|i| format!("p{}={}", 20_000 - i, i)).collect();
    let url = format!("https://h.example/{long_segment}/x?{}", many_parameters.join("&"));
    let mut headers: Vec<(String, String)> = (0..5_000).map(|i| (format!("x-h{i}"), "v ".repeat(200))).collect();
    headers.push(("x-big".to_string(), "b".repeat(1 << 20)));
    let body = vec![b'x'; 2 << 20];
    sign("POST", &url, &mut headers, &body, &SUITE_CREDENTIALS, &BEDROCK_SCOPE, BEDROCK_TIME).unwrap();
    assert!(header(&headers, "authorization").unwrap().contains("x-h4999;x-h5;"));

    let huge_name = "n".repeat(1 << 20) + "\n";
    let error = sign("GET", BEDROCK_URL, &mut owned(&[(&huge_name, "v")]), b"", &SUITE_CREDENTIALS, &BEDROCK_SCOPE, 0)
        .unwrap_err();
    assert!(error.to_string().len() < 200, "the name shown is cut short");
}

#[test]
fn the_date_stamp_is_utc_including_leap_days_and_century_years() {
    let cases = [
        (0, "19700101T000000Z"),
        (SUITE_TIME, "20150830T123600Z"),
        (68_169_600, "19720229T000000Z"),
        (951_782_400, "20000229T000000Z"),
        (1_483_228_799, "20161231T235959Z"),
        (1_709_164_800, "20240229T000000Z"),
        (4_102_444_800, "21000101T000000Z"),
        (4_107_456_000, "21000228T000000Z"),
        (4_107_542_400, "21000301T000000Z"),
        (LAST_SECOND, "99991231T235959Z"),
    ];
    for (seconds, stamp) in cases {
        assert_eq!(amz_date(seconds).unwrap(), stamp, "{seconds}");
    }
    assert_eq!(amz_date(LAST_SECOND + 1), Err(SignError::TimeOutOfRange));
    assert_eq!(amz_date(u64::MAX), Err(SignError::TimeOutOfRange));
    let error = sign("GET", BEDROCK_URL, &mut Vec::new(), b"", &SUITE_CREDENTIALS, &BEDROCK_SCOPE, u64::MAX);
    assert_eq!(error, Err(SignError::TimeOutOfRange));
}

#[test]
fn civil_days_agree_with_counting_days_one_year_and_month_at_a_time() {
    let is_leap = |year: u64| year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let (mut year, mut month, mut day) = (1970, 1, 1);
    for days in 0..(2500 - 1970) * 366 {
        assert_eq!(civil_from_days(days), (year, month, day), "day {days}");
        let month_length = match month {
            2 if is_leap(year) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        day += 1;
        if day > month_length {
            (day, month) = (1, month + 1);
            if month > 12 {
                (month, year) = (1, year + 1);
            }
        }
    }
}
