//! QUOTA (RFC 9208, compatible with RFC 2087).
//!
//! ```text
//! getquota        = "GETQUOTA" SP quota-root-name
//! getquotaroot    = "GETQUOTAROOT" SP mailbox
//! setquota        = "SETQUOTA" SP quota-root-name SP setquota-list
//! setquota-list   = "(" [setquota-resource *(SP setquota-resource)] ")"
//! setquota-resource = resource-name SP resource-limit
//! quota-response  = "QUOTA" SP quota-root-name SP quota-list
//! quota-list      = "(" quota-resource *(SP quota-resource) ")"
//! quota-resource  = resource-name SP resource-usage SP resource-limit
//! quotaroot-response = "QUOTAROOT" SP mailbox *(SP quota-root-name)
//! quota-root-name = astring
//! resource-name   = "STORAGE" / "MESSAGE" / "MAILBOX" /
//!                   "ANNOTATION-STORAGE" / resource-name-ext
//! resource-limit  = number64
//! resource-usage  = number64
//! ```
//! (RFC 9208 §8.) `STORAGE` counts units of 1024 octets (§5.1).

use super::core::{Atom, IntoStatic};

/// `quota-resource`: a resource's usage and limit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QuotaResource<'a> {
    /// `resource-name` (`STORAGE`, `MESSAGE` ...).
    pub name: Atom<'a>,
    /// What is used.
    pub usage: u64,
    /// The limit.
    pub limit: u64,
}

impl IntoStatic for QuotaResource<'_> {
    type Static = QuotaResource<'static>;
    fn into_static(self) -> QuotaResource<'static> {
        QuotaResource {
            name: self.name.into_static(),
            usage: self.usage,
            limit: self.limit,
        }
    }
}
