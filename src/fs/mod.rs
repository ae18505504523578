//! The file system on behalf of a repo: [`read`] takes regular files only, under a size cap,
//! without blocking on a FIFO or a device; [`mod@write`] replaces files atomically (staged next to
//! their target, renamed all at once, undone on failure), with backups and a directory lock.
//! Every reader and writer of the crate goes through here; nothing above opens files itself.

pub mod read;
pub mod write;
