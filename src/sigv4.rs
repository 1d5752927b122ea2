//! AWS Signature Version 4 for requests signed in headers, as AWS Bedrock takes them: the canonical
//! request, the string to sign, the derived key and the `authorization` header.
//!
//! The signature covers the request as it goes on the wire, so the URL is given as sent (its path
//! already percent-encoded) and every header given is signed. The time comes from the caller:
//! there is no clock to read on wasm32.

use std::fmt;

use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode, percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

/// The signing algorithm's name, first in the string to sign and in `authorization`.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The headers `sign` sets; any already in the request are replaced, so a request can be signed again.
const SET_BY_SIGNING: [&str; 3] = ["authorization", "x-amz-date", "x-amz-security-token"];

/// What AWS leaves unencoded in URI components: the unreserved `A-Za-z0-9-_.~`.
const AWS_ENCODED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// The last second whose `YYYYMMDD'T'HHMMSS'Z'` stamp has four digits of year: 9999-12-31T23:59:59Z.
const LAST_SECOND: u64 = 253_402_300_799;

/// Long-term or temporary AWS credentials. `Debug` shows the access key id only.
#[derive(Clone, Copy)]
pub struct Credentials<'a> {
    /// The public half, named in `authorization`.
    pub access_key_id: &'a str,
    /// The secret half, which only keys the HMACs.
    pub secret_access_key: &'a str,
    /// The session token of temporary credentials, sent (and signed) as `x-amz-security-token`.
    pub session_token: Option<&'a str>,
}

impl fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &self.session_token.map(|_| "<redacted>"))
            .finish()
    }
}

/// Where a signature is valid: the region and the service's signing name (`bedrock` for Bedrock).
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// `us-east-1` and the like.
    pub region: &'a str,
    /// The signing name, which is not always the endpoint's (`bedrock` for `bedrock-runtime`).
    pub service: &'a str,
}

/// Why a request could not be signed. No variant carries a secret, a header value or the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignError {
    /// The URL is not `http://` or `https://` followed by a host.
    NotAbsoluteHttpUrl,
    /// The URL's host (and port) is not a DNS name, an IPv4 or a bracketed IPv6 address.
    InvalidHost,
    /// The URL has a control character, which no request line may carry.
    ControlCharacterInUrl,
    /// The method is not an HTTP token.
    InvalidMethod,
    /// A header name is empty or not an HTTP token; the name is shown escaped.
    InvalidHeaderName(String),
    /// A header value has a control character other than a tab (CR and LF included), or a
    /// character that is not ASCII; the header's name is given.
    InvalidHeaderValue(String),
    /// A `host` header was given; the host is the URL's, and the runtime sends it from there.
    HostHeader,
    /// The access key id is empty or has a character that would break the `Credential=` field.
    InvalidAccessKeyId,
    /// The session token has a character no header value may have (a control or non-ASCII one).
    InvalidSessionToken,
    /// The region or the service is empty or has a character other than `a-z`, `0-9` and `-`.
    InvalidScope,
    /// S3 signs its path encoded once, and its payload hash in a header; this signer does neither.
    S3NotSupported,
    /// The time is after 9999-12-31T23:59:59Z, which the date stamp cannot say.
    TimeOutOfRange,
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAbsoluteHttpUrl => f.write_str("the URL to sign is not an absolute http(s) URL with a host"),
            Self::InvalidHost => f.write_str("the URL to sign has an invalid host or port"),
            Self::ControlCharacterInUrl => f.write_str("the URL to sign has a control character"),
            Self::InvalidMethod => f.write_str("the HTTP method to sign is not a token"),
            Self::InvalidHeaderName(name) => write!(f, "the header name \"{name}\" is not a token"),
            Self::InvalidHeaderValue(name) => {
                write!(f, "the value of header \"{name}\" has a control or non-ASCII character")
            }
            Self::HostHeader => f.write_str("a host header cannot be signed: the host is taken from the URL"),
            Self::InvalidAccessKeyId => f.write_str("the AWS access key id is empty or has an invalid character"),
            Self::InvalidSessionToken => f.write_str("the AWS session token has a control or non-ASCII character"),
            Self::InvalidScope => f.write_str("the AWS region or service is empty or not of a-z, 0-9 and -"),
            Self::S3NotSupported => f.write_str("S3 requests are signed differently, and not supported"),
            Self::TimeOutOfRange => f.write_str("the signing time is after the year 9999"),
        }
    }
}

impl std::error::Error for SignError {}

/// Signs a request: adds `x-amz-date`, `x-amz-security-token` (when a session token is given) and
/// `authorization` to `headers`. `url` is the absolute URL the request goes to (its path already
/// percent-encoded as sent); the host is taken from it and signed, but no `host` header is added
/// (the runtime sets it from the URL).
///
/// Headers that signing sets are replaced if already present. On an error `headers` is unchanged.
pub fn sign(
    method: &str,
    url: &str,
    headers: &mut Vec<(String, String)>,
    body: &[u8],
    credentials: &Credentials,
    scope: &Scope,
    unix_seconds: u64,
) -> Result<(), SignError> {
    check_scope(scope)?;
    check_access_key_id(credentials.access_key_id)?;
    if credentials.session_token.is_some_and(|token| !is_header_value(token)) {
        return Err(SignError::InvalidSessionToken);
    }
    let timestamp = amz_date(unix_seconds)?;
    let is_set_by_signing = |name: &str| SET_BY_SIGNING.iter().any(|set| name.trim().eq_ignore_ascii_case(set));

    let mut signed: Vec<(&str, &str)> =
        headers.iter().filter(|(name, _)| !is_set_by_signing(name)).map(|(n, v)| (n.as_str(), v.as_str())).collect();
    signed.push(("x-amz-date", &timestamp));
    if let Some(token) = credentials.session_token {
        signed.push(("x-amz-security-token", token));
    }
    let canonical = canonical_request(method, url, &signed, body)?;

    let date = &timestamp[..8];
    let credential_scope = credential_scope(date, scope);
    let to_sign = string_to_sign(&timestamp, &credential_scope, &canonical.text);
    let signature = hex(&hmac_sha256(&signing_key(credentials.secret_access_key, date, scope), to_sign.as_bytes()));
    let authorization = format!(
        "{ALGORITHM} Credential={}/{credential_scope}, SignedHeaders={}, Signature={signature}",
        credentials.access_key_id, canonical.signed_headers
    );

    headers.retain(|(name, _)| !is_set_by_signing(name));
    if let Some(token) = credentials.session_token {
        headers.push(("x-amz-security-token".to_string(), token.to_string()));
    }
    headers.push(("x-amz-date".to_string(), timestamp));
    headers.push(("authorization".to_string(), authorization));
    Ok(())
}

/// A canonical request and the list of the headers it signs, as `authorization` names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalRequest {
    /// Method, URI, query, headers, signed header names and payload hash, one a line.
    pub text: String,
    /// The lower-cased header names, sorted and joined by `;` (`host` among them).
    pub signed_headers: String,
}

/// The canonical request of a request to `url` with exactly these headers (`x-amz-date` among
/// them) and this body. `host` comes from the URL and is not to be among `headers`.
///
/// Header names are trimmed and lower-cased, values trimmed with inner runs of spaces made one,
/// and a name given more than once has its values joined by `,` in the order given (a runtime that
/// joins repeated headers with `, ` would send something else, so each name is best given once).
///
/// The path is signed as sent, each segment URI-encoded once more (a character the URL should have
/// encoded but did not, such as a space or a non-ASCII letter, is encoded once); it is not
/// normalized. The query's names and values are decoded, URI-encoded and sorted.
pub fn canonical_request<N: AsRef<str>, V: AsRef<str>>(
    method: &str,
    url: &str,
    headers: &[(N, V)],
    body: &[u8],
) -> Result<CanonicalRequest, SignError> {
    if method.is_empty() || !method.bytes().all(is_token_byte) {
        return Err(SignError::InvalidMethod);
    }
    let parts = UrlParts::parse(url)?;

    let mut canonical_headers = vec![("host".to_string(), parts.host)];
    for (name, value) in headers {
        let name = name.as_ref().trim_matches(is_header_space);
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(SignError::InvalidHeaderName(name.escape_default().take(64).collect()));
        }
        let name = name.to_ascii_lowercase();
        if name == "host" {
            return Err(SignError::HostHeader);
        }
        let value = value.as_ref();
        if !is_header_value(value) {
            return Err(SignError::InvalidHeaderValue(name));
        }
        canonical_headers.push((name, collapse_spaces(value)));
    }
    // A stable sort keeps a repeated name's values in the order given.
    canonical_headers.sort_by(|a, b| a.0.cmp(&b.0));

    let mut header_lines = String::new();
    let mut signed_headers = String::new();
    for (index, (name, value)) in canonical_headers.iter().enumerate() {
        if index > 0 && canonical_headers[index - 1].0 == *name {
            header_lines.pop();
            header_lines.push(',');
        } else {
            if !signed_headers.is_empty() {
                signed_headers.push(';');
            }
            signed_headers.push_str(name);
            header_lines.push_str(name);
            header_lines.push(':');
        }
        header_lines.push_str(value);
        header_lines.push('\n');
    }

    let text = [
        method,
        &canonical_uri(parts.path),
        &canonical_query(parts.query),
        &header_lines,
        &signed_headers,
        &hex(&Sha256::digest(body)),
    ]
    .join("\n");
    Ok(CanonicalRequest { text, signed_headers })
}

/// `YYYYMMDD/region/service/aws4_request`: what the signature is valid for.
pub fn credential_scope(date: &str, scope: &Scope) -> String {
    format!("{date}/{}/{}/aws4_request", scope.region, scope.service)
}

/// The string to sign: the algorithm, the `x-amz-date` stamp, the credential scope and the hex
/// SHA-256 of the canonical request, one a line.
pub fn string_to_sign(amz_date: &str, credential_scope: &str, canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{amz_date}\n{credential_scope}\n{}", hex(&Sha256::digest(canonical_request)))
}

/// The key a day's signatures for one region and service are made with, derived from the secret
/// by the chain of HMACs over the date (`YYYYMMDD`), region, service and `aws4_request`.
pub fn signing_key(secret_access_key: &str, date: &str, scope: &Scope) -> [u8; 32] {
    let key = hmac_sha256(format!("AWS4{secret_access_key}").as_bytes(), date.as_bytes());
    let key = hmac_sha256(&key, scope.region.as_bytes());
    let key = hmac_sha256(&key, scope.service.as_bytes());
    hmac_sha256(&key, b"aws4_request")
}

/// The `x-amz-date` stamp of a time, `YYYYMMDD'T'HHMMSS'Z'` in UTC.
pub fn amz_date(unix_seconds: u64) -> Result<String, SignError> {
    if unix_seconds > LAST_SECOND {
        return Err(SignError::TimeOutOfRange);
    }
    let (year, month, day) = civil_from_days(unix_seconds / 86_400);
    let second_of_day = unix_seconds % 86_400;
    let (hour, minute, second) = (second_of_day / 3600, second_of_day / 60 % 60, second_of_day % 60);
    Ok(format!("{year:04}{month:02}{day:02}T{hour:02}{minute:02}{second:02}Z"))
}

/// The proleptic Gregorian (year, month, day) of a count of days since 1970-01-01.
///
/// Counted from 0000-03-01 instead, each 400-year era has the same 146 097 days, and each year of
/// it ends with February, so a leap day is always a year's last day and months from March on have
/// lengths that a linear formula gives.
fn civil_from_days(days_since_epoch: u64) -> (u64, u64, u64) {
    const DAYS_FROM_YEAR_ZERO_MARCH: u64 = 719_468;
    const DAYS_PER_ERA: u64 = 146_097;
    let days = days_since_epoch + DAYS_FROM_YEAR_ZERO_MARCH;
    let era = days / DAYS_PER_ERA;
    let day_of_era = days % DAYS_PER_ERA;
    // Without the era's leap days (one per 4 years, none per 100, one per 400), years are 365 days.
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / (DAYS_PER_ERA - 1)) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // March is month 0; months alternate 31 and 30 days in blocks of five, 153 days a block.
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

/// The pieces of an absolute http(s) URL that the signature covers.
struct UrlParts<'a> {
    /// Lower-cased, with the port only when it is not the scheme's default.
    host: String,
    path: &'a str,
    query: &'a str,
}

impl<'a> UrlParts<'a> {
    fn parse(url: &'a str) -> Result<Self, SignError> {
        if url.chars().any(char::is_control) {
            return Err(SignError::ControlCharacterInUrl);
        }
        let (default_port, rest) = strip_prefix_ignore_case(url, "https://")
            .map(|rest| (443, rest))
            .or_else(|| strip_prefix_ignore_case(url, "http://").map(|rest| (80, rest)))
            .ok_or(SignError::NotAbsoluteHttpUrl)?;
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, rest) = rest.split_at(authority_end);
        if authority.is_empty() {
            return Err(SignError::NotAbsoluteHttpUrl);
        }
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        Ok(Self { host: canonical_host(authority, default_port)?, path, query })
    }
}

/// The host as the runtime sends it: lower-cased, the port kept unless it is the scheme's default.
fn canonical_host(authority: &str, default_port: u16) -> Result<String, SignError> {
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => {
            let (address, after) = bracketed.split_once(']').ok_or(SignError::InvalidHost)?;
            if address.is_empty() || !address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
                return Err(SignError::InvalidHost);
            }
            let port = match after {
                "" => None,
                after => Some(after.strip_prefix(':').ok_or(SignError::InvalidHost)?),
            };
            (&authority[..address.len() + 2], port)
        }
        None => {
            let (host, port) = authority.split_once(':').map_or((authority, None), |(h, p)| (h, Some(p)));
            let is_label_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_';
            if host.is_empty() || !host.bytes().all(is_label_byte) {
                return Err(SignError::InvalidHost);
            }
            (host, port)
        }
    };
    let host = host.to_ascii_lowercase();
    match port {
        None => Ok(host),
        Some(port) => match port.parse::<u16>() {
            Ok(number) if port.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(if number == default_port { host } else { format!("{host}:{port}") })
            }
            _ => Err(SignError::InvalidHost),
        },
    }
}

/// The path with each segment URI-encoded once more, so `%3A` is signed as `%253A`; `/` if empty.
fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".to_string();
    }
    let segments: Vec<String> =
        path.split('/').map(|segment| percent_encode(segment.as_bytes(), AWS_ENCODED).to_string()).collect();
    segments.join("/")
}

/// The query's parameters, each name and value decoded and URI-encoded, sorted by name then value
/// and joined by `&`. A parameter without `=` has an empty value; `+` is a plus sign, not a space.
fn canonical_query(query: &str) -> String {
    let encode = |component: &str| {
        percent_encode(&percent_decode(component.as_bytes()).collect::<Vec<u8>>(), AWS_ENCODED).to_string()
    };
    let mut parameters: Vec<(String, String)> = query
        .split('&')
        .filter(|parameter| !parameter.is_empty())
        .map(|parameter| {
            let (name, value) = parameter.split_once('=').unwrap_or((parameter, ""));
            (encode(name), encode(value))
        })
        .collect();
    parameters.sort();
    let pairs: Vec<String> = parameters.into_iter().map(|(name, value)| format!("{name}={value}")).collect();
    pairs.join("&")
}

/// The value trimmed, and each run of spaces and tabs inside it made one space.
fn collapse_spaces(value: &str) -> String {
    let mut collapsed = String::with_capacity(value.len());
    for word in value.split(is_header_space).filter(|word| !word.is_empty()) {
        if !collapsed.is_empty() {
            collapsed.push(' ');
        }
        collapsed.push_str(word);
    }
    collapsed
}

fn check_scope(scope: &Scope) -> Result<(), SignError> {
    let is_scope_part = |part: &str| {
        !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if !is_scope_part(scope.region) || !is_scope_part(scope.service) {
        return Err(SignError::InvalidScope);
    }
    if scope.service == "s3" {
        return Err(SignError::S3NotSupported);
    }
    Ok(())
}

/// An access key id goes into `Credential=id/scope, ...`: no separator of that field may be in it.
fn check_access_key_id(access_key_id: &str) -> Result<(), SignError> {
    if access_key_id.is_empty() || !access_key_id.bytes().all(|b| b.is_ascii_graphic() && b != b'/' && b != b',') {
        return Err(SignError::InvalidAccessKeyId);
    }
    Ok(())
}

/// HTTP's `tchar`: what a method or a header name is made of.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

fn is_header_space(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Visible ASCII, spaces and tabs. A CR or LF would end the header and start another; a
/// non-ASCII character would be signed as UTF-8 but sent by the runtime as some other bytes, if at all.
fn is_header_value(value: &str) -> bool {
    value.bytes().all(|b| b.is_ascii_graphic() || b == b' ' || b == b'\t')
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    text
}

#[cfg(test)]
mod tests;
