//! The services layer: what the handlers call to look things up, decide with state and record. Each
//! service is built by `state.rs` with exactly what it needs (the store, the clock, its slice of the
//! settings, other services by handle) and never sees the application state or the web layer; a test
//! (`layering` below) reads the sources and fails if one does.
pub mod access_tokens;
pub mod audit;
mod cache;
pub mod cached_json;
pub mod client_address;
pub mod clients;
pub mod clock;
pub mod csrf;
pub mod fetch;
pub mod keyring;
pub mod metrics;
pub mod openid;
pub mod passwords;
pub mod rate_limit;
pub mod resources;
pub mod revocations;
pub mod throttle;

#[cfg(test)]
mod layering {
    //! The server's floors, checked from the sources: web (router, edge, listener, tasks, `endpoint/`,
    //! `pages/`, `extract/`) above the state, the state above the services, settings below all.

    use std::path::{Path, PathBuf};

    /// What a file below the state must never name: the state itself and every web-layer module.
    // Spelled in two halves so that this file, which names them, does not itself look like an import of
    // the state to a plain text search.
    const ABOVE: [&str; 10] = [
        concat!("crate::", "state"),
        concat!("App", "State"),
        "crate::router",
        "crate::edge",
        "crate::listener",
        "crate::tasks",
        "crate::endpoint",
        "crate::pages",
        "crate::extract",
        "crate::openapi",
    ];

    fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("the source folder is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                sources(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }

    /// The code of a file without its comments, so a doc comment may mention the state.
    fn code(path: &Path) -> String {
        std::fs::read_to_string(path)
            .expect("a source file is readable")
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn no_service_and_no_lower_file_imports_the_state_or_the_web_layer() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut below = Vec::new();
        sources(&src.join("services"), &mut below);
        below.extend(
            ["services.rs", "settings.rs", "error.rs", "http_error.rs"].map(|f| src.join(f)),
        );
        assert!(below.len() > 15, "the services were found: {below:?}");
        let mut broken = Vec::new();
        for path in &below {
            let code = code(path);
            for name in ABOVE {
                // This test names them; it is not code of the layer.
                if code.contains(name) && !path.ends_with("services.rs") {
                    broken.push(format!("{} names {name}", path.display()));
                }
            }
        }
        assert!(broken.is_empty(), "layering broken:\n{}", broken.join("\n"));
    }

    #[test]
    fn the_check_sees_an_import_of_the_state() {
        let sample = format!("use {}::{};", ABOVE[0], ABOVE[1]);
        assert!(ABOVE.iter().any(|name| sample.contains(name)));
    }
}
