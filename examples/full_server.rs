//! The reference mail server: `cargo run --example full_server`.
//!
//! The server assembly is being built (see the README's status table). Until it lands this
//! command says so and exits cleanly.

fn main() {
    println!(
        "mailwright {}: the reference server is not built yet; see README.md for the status of each piece.",
        env!("CARGO_PKG_VERSION")
    );
}
