//! Keys the proxy issues: their format and hash, the policy each carries (models, rate, token and
//! spend limits, expiry), the meter its Durable Object keeps (`meter`, `object`), and how a refusal
//! is told (`answer`). Only the hash of a key is ever stored; the key itself is shown once, when it
//! is made.

mod answer;
mod meter;
pub mod object;
mod policy;

pub use meter::{Admission, Denial, DenialReason, Entry, Meter, Window, UNSETTLED_KEPT_MS, WINDOW_MS};
pub use policy::{KeyPolicy, Period};

use sha2::{Digest, Sha256};

/// What every issued key starts with, so that it is told from the static `LLMPROXY_API_KEY` keys.
pub const PREFIX: &str = "sk-llmp-";
const ID_LEN: usize = 12;
const SECRET_LEN: usize = 40;
const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyz23456789";

/// A new key from 52 random bytes: its id (public, names the key in records and the admin API)
/// and the key itself, `sk-llmp-<id>-<secret>`.
pub fn new_key(random: &[u8; ID_LEN + SECRET_LEN]) -> (String, String) {
    let pick = |b: &u8| ALPHABET[usize::from(*b) % ALPHABET.len()] as char;
    let id: String = random[..ID_LEN].iter().map(pick).collect();
    let secret: String = random[ID_LEN..].iter().map(pick).collect();
    let key = format!("{PREFIX}{id}-{secret}");
    (id, key)
}

fn shaped(part: &str, len: usize) -> bool {
    part.len() == len && part.bytes().all(|b| ALPHABET.contains(&b))
}

/// The id of an issued key, if `presented` has the shape of one.
pub fn id_of(presented: &str) -> Option<&str> {
    let rest = presented.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('-')?;
    (shaped(id, ID_LEN) && shaped(secret, SECRET_LEN)).then_some(id)
}

/// Whether `id` has the shape of a key's id.
pub fn is_id(id: &str) -> bool {
    shaped(id, ID_LEN)
}

/// The stored form of a key: hex SHA-256.
pub fn hash(key: &str) -> String {
    Sha256::digest(key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `presented` is the key whose hash is `stored`, in constant time.
pub fn matches(presented: &str, stored: &str) -> bool {
    constant_time_eq::constant_time_eq(hash(presented).as_bytes(), stored.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_a_shape_an_id_and_only_their_hash_is_kept() {
        let mut random = [0u8; 52];
        random.iter_mut().enumerate().for_each(|(i, b)| *b = (i * 37 % 251) as u8);
        let (id, key) = new_key(&random);
        assert!(key.starts_with("sk-llmp-") && key.len() == 8 + 12 + 1 + 40, "{key}");
        assert_eq!(id_of(&key), Some(id.as_str()));
        assert!(is_id(&id) && !is_id("../../x") && !is_id(&key));
        let stored = hash(&key);
        assert_eq!(stored.len(), 64);
        assert!(!stored.contains(&key[8..]), "the hash is not the key");
        assert!(matches(&key, &stored));
        assert!(!matches(&format!("{key}x"), &stored));
        for not_issued in ["sk-llmp-", "sk-proj-abc", &key[..key.len() - 1], &key.replace('-', "_"), "sk-llmp-é-é"] {
            assert_eq!(id_of(not_issued), None, "{not_issued}");
        }
    }
}
