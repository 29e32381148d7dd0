//! Integration tests for the storage layer (one test binary to keep link time down).

mod common;
mod power_loss;
mod snapshot;
mod verify;
mod wal;
