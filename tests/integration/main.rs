//! The one integration-test binary: themed modules, each running the real `envsync` binary
//! (or the library) on real files, real git repositories and real readers.

mod common;
mod readers;

mod check_cli;
mod compose;
mod conformance;
mod differential;
mod fix;
mod formats;
mod git_sources;
mod hook;
mod hostile;
mod kubernetes;
mod kubernetes_rules;
mod migrate;
mod pg;
mod prisma;
mod property;
mod report;
mod secrets;
