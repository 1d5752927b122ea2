//! Several keys for one backend, kept by each isolate: requests take them in turn, and a key the
//! backend refused (401, 403) is set aside for a while so the others serve meanwhile.

use crate::config::Backend;
use std::collections::HashMap;

/// How long a refused key is set aside.
pub const SET_ASIDE_MS: f64 = 600_000.0;

#[derive(Debug, Default)]
pub struct KeyRing {
    /// The next turn per backend.
    turns: HashMap<String, usize>,
    /// Until when a key (backend, secret name) is set aside.
    aside: HashMap<(String, String), f64>,
}

impl KeyRing {
    /// The secret holding the key for the next request to `backend`: the next in turn that is not
    /// set aside, or the next in turn when all are. None for a backend without keys.
    pub fn pick<'a>(&mut self, backend: &'a Backend, now: f64) -> Option<&'a str> {
        let names = &backend.api_key_env;
        if names.is_empty() {
            return None;
        }
        let turn = self.turns.entry(backend.name.clone()).or_default();
        let start = *turn;
        *turn = turn.wrapping_add(1);
        let usable =
            |name: &String| self.aside.get(&(backend.name.clone(), name.clone())).is_none_or(|until| now >= *until);
        (0..names.len())
            .map(|offset| &names[(start + offset) % names.len()])
            .find(|name| usable(name))
            .or_else(|| names.get(start % names.len()))
            .map(String::as_str)
    }

    pub fn set_aside(&mut self, backend: &str, secret: &str, now: f64) {
        self.aside.insert((backend.to_string(), secret.to_string()), now + SET_ASIDE_MS);
    }
}
