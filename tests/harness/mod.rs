//! What the integration tests share, in one place; each test crate says `mod harness;` and
//! uses the part it needs.
//! - [`kernel`]: for tests that load into the running kernel (root): a hand-assembled
//!   program that sends a known payload, a perf event array, connections that fire it.
//! - [`tool`]: for tests of the `tcpconnect` binary: starting it, reading its lines,
//!   connecting from a named thread or a child process.
//! - [`corpus`]: the real-world objects of `shared/corpus`, found and loaded.
//! - [`net`]: the network attach tests' programs, receivers and the lock on lo's clsact.
//! - [`netns`]: a network namespace of the test's own, its loopback up.
//! - [`cgroup`]: a cgroup v2 directory of the test's own, and a child process run in it.
//!
//! The byte builders (BTF, ELF objects, a fake perf ring) are in the testkit crate
//! (testkit/), which the library's own unit tests use too.

pub mod cgroup;
pub mod corpus;
pub mod kernel;
pub mod net;
pub mod netns;
pub mod tool;
