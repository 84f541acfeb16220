//! The protocol layer: one connection driver ([`mailwright_sansio::driver`]) runs every session;
//! each protocol service is an event handler on it.

pub mod conn;
