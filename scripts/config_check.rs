//! The native half of `scripts/config`: the worker's own config validation, run on a file, and
//! the config's JSON Schema.
//!
//!   config_check validate FILE   every problem, one `path: message` a line; exit 1 when any
//!   config_check schema FILE     writes the schema the config's types generate to FILE

use llmproxy::config::{schema, Config};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["validate", file] => {
            let text = match std::fs::read_to_string(file) {
                Ok(text) => text,
                Err(error) => {
                    eprintln!("{file}: {error}");
                    return ExitCode::from(2);
                }
            };
            match Config::check(&text) {
                Ok(config) => {
                    println!("{file}: valid ({} backends, {} routes)", config.backends.len(), config.routes.len());
                    ExitCode::SUCCESS
                }
                Err(problems) => {
                    for problem in &problems {
                        println!("{file}: {problem}");
                    }
                    ExitCode::FAILURE
                }
            }
        }
        ["schema", file] => match std::fs::write(file, schema::generated()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("{file}: {error}");
                ExitCode::from(2)
            }
        },
        _ => {
            eprintln!("usage: config_check validate FILE | schema FILE");
            ExitCode::from(2)
        }
    }
}
