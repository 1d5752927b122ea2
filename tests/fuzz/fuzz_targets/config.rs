//! Config text, then model names, separated by NUL bytes (which JSON text cannot hold): parsing
//! never panics, and a config that parses routes, resolves and lists any model name without
//! panicking or hanging, always to one of its own backends (a route's chain too, in any order it
//! draws, each of its targets once).
#![no_main]

use libfuzzer_sys::fuzz_target;
use llmproxy::config::Config;
use llmproxy::routing;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0);
    let text = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let Ok(config) = Config::from_json(&text) else { return };
    assert!(!config.backends.is_empty());
    let is_backend = |name: &str| config.backends.iter().any(|b| b.name == name);
    for (id, backend) in config.listed_models() {
        assert!(backend.is_empty() || is_backend(backend), "`{id}` listed under an unknown backend `{backend}`");
        assert!(config.aliases.contains_key(id) || config.backends.iter().any(|b| b.models.iter().any(|m| m == id)));
    }
    let mut names: Vec<String> = parts.map(|p| String::from_utf8_lossy(p).into_owned()).collect();
    names.extend(config.aliases.keys().cloned());
    names.extend(config.routes.keys().cloned());
    for name in &names {
        let _ = routing::check_model_name(name);
        let _ = routing::model_path_segment(name);
        if let Ok(model) = config.resolve_alias(name) {
            assert!(!config.aliases.contains_key(model), "`{name}` resolved to the alias `{model}`");
            if let Ok(backend) = config.route(model) {
                assert!(is_backend(&backend.name));
            }
            for random in [0, 1, u64::MAX, (name.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)] {
                let Ok(chain) = config.chain(model, random) else { continue };
                assert!(chain.targets.iter().all(|t| is_backend(&t.backend.name)), "`{model}` chained elsewhere");
                let expected = config.routes.get(model).map_or(1, |route| route.targets.len());
                assert_eq!(chain.targets.len(), expected, "`{model}`: a chain of other targets than its route's");
                if let Some(route) = config.routes.get(model) {
                    // The draw orders the route's targets: each comes once.
                    let mut drawn: Vec<(&str, &str)> =
                        chain.targets.iter().map(|t| (t.backend.name.as_str(), t.model.as_str())).collect();
                    let mut listed: Vec<(&str, &str)> = route
                        .targets
                        .iter()
                        .map(|t| (t.backend.as_str(), t.model.as_deref().unwrap_or(model)))
                        .collect();
                    drawn.sort_unstable();
                    listed.sort_unstable();
                    assert_eq!(drawn, listed, "`{model}`: the chain is not the route's targets");
                }
            }
        }
    }
});
