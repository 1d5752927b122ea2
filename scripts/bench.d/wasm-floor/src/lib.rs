//! The wasm half of the JavaScript + wasm floor of scripts/bench (index.js is the other): what a
//! Rust proxy whose shell is JavaScript calls for each body, synchronously. JavaScript writes a
//! body into the input buffer, `rewrite` parses it and writes it out again into the output
//! buffer, and JavaScript copies that out. No workers-rs, no wasm-bindgen: plain exports over one
//! memory.

use serde_json::Value;
use std::cell::RefCell;

thread_local! {
    static INPUT: RefCell<Vec<u8>> = RefCell::default();
    static OUTPUT: RefCell<Vec<u8>> = RefCell::default();
}

/// The input buffer, `len` bytes long, for JavaScript to write a body into.
#[no_mangle]
pub extern "C" fn input(len: usize) -> *mut u8 {
    INPUT.with_borrow_mut(|input| {
        input.clear();
        input.resize(len, 0);
        input.as_mut_ptr()
    })
}

/// Parses the input as JSON and writes it into the output buffer: the output's length times two,
/// plus one when the body asks for a stream; -1 when it is not JSON.
#[no_mangle]
pub extern "C" fn rewrite() -> i32 {
    let Ok(body) = INPUT.with_borrow(|input| serde_json::from_slice::<Value>(input)) else {
        return -1;
    };
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    OUTPUT.with_borrow_mut(|output| {
        output.clear();
        match serde_json::to_writer(&mut *output, &body) {
            Ok(()) => ((output.len() as i32) << 1) | i32::from(stream),
            Err(_) => -1,
        }
    })
}

/// Where the output buffer starts.
#[no_mangle]
pub extern "C" fn output() -> *const u8 {
    OUTPUT.with_borrow(|output| output.as_ptr())
}
