//! CORS in the shell: the allowed origins read once per isolate, a preflight answered before any
//! key is asked for (browsers send none with it), and the CORS headers put on every answer to an
//! allowed origin (see `crate::cors`).

use super::incoming::Incoming;
use super::outgoing::Outgoing;
use super::{is_admin, string_binding};
use crate::cors::{self, Origins};
use crate::error::ProxyError;
use std::cell::RefCell;
use std::rc::Rc;
use worker::Env;

thread_local! {
    /// The var's origins: it changes only with a deployment.
    static ORIGINS: RefCell<Option<Rc<Origins>>> = const { RefCell::new(None) };
}

/// The `Access-Control-Allow-Origin` for the request, or None: no CORS for an origin not allowed,
/// for a request without `Origin`, and for the admin API, which only the dashboard on the worker's
/// own origin calls.
pub fn allowed(req: &Incoming, env: &Env, path: &str) -> Result<Option<String>, ProxyError> {
    if is_admin(path) {
        return Ok(None);
    }
    let origins = match ORIGINS.with_borrow(Clone::clone) {
        Some(origins) => origins,
        None => {
            let origins = Rc::new(Origins::from_var(string_binding(env, cors::ORIGINS_VAR).as_deref())?);
            ORIGINS.with_borrow_mut(|kept| *kept = Some(origins.clone()));
            origins
        }
    };
    Ok(origins.allowed(req.header("origin").as_deref()))
}

/// The answer to an `OPTIONS` request: 204, with what a preflight needs when its origin is allowed
/// (the CORS headers of every answer are added after, by `with_headers`).
pub fn preflight(req: &Incoming, allowed: Option<&str>) -> Outgoing {
    let reply = Outgoing::empty(204);
    if allowed.is_none() {
        return reply;
    }
    let requested = req.header("access-control-request-headers");
    reply.with_all(&cors::preflight_headers(requested.as_deref()))
}

/// The answer with the CORS headers that let the allowed origin's page read it.
pub fn with_headers(reply: Outgoing, allowed: &str) -> Outgoing {
    reply.with_all(&cors::answer_headers(allowed))
}
