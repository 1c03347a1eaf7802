//! Tests of the `elf` layer: the real object, hand-made bad objects, and the fuzz corpus.

mod bad_input;
mod corpus;
mod features;
mod module_ksyms;
mod real_object;
mod real_world;

/// An error and its causes on one line, as the tool prints them: `a: b: c`.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        line.push_str(&format!(": {inner}"));
        cause = inner.source();
    }
    line
}
