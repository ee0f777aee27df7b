//! What the store tests share: the contract's cases and a real PostgreSQL server.

pub mod contract;
#[cfg(feature = "postgres")]
pub mod postgres_server;
