//! Arbitrary bytes, read as a request (method, path and query, content type, body), sent to
//! the API server over a real store: it must answer with a status below 500 (or upstream's
//! 504 for a resource version from the future), and never panic.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

// The same sandbox and case format as the corpus replay test in `tests/`.
#[path = "../../tests/src/requests.rs"]
mod requests;

use requests::{Sandbox, parse_case};

struct World {
    runtime: tokio::runtime::Runtime,
    sandbox: Sandbox,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let sandbox = runtime.block_on(Sandbox::new());
        World { runtime, sandbox }
    })
}

fuzz_target!(|data: &[u8]| {
    let world = world();
    let (status, body) = world.runtime.block_on(world.sandbox.send(parse_case(data)));
    let too_large = status == 504 && body.contains("ResourceVersionTooLarge");
    assert!(status < 500 || too_large, "{status}: {body}");
});
