//! The five capability flags that grant a user or a service account rights
//! on CAs and certificates beyond its role. A leaf: storage, authorization,
//! use cases and the command-line client all speak it.

use serde::{Deserialize, Serialize};

/// The five capability flags, in storage order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    pub can_create_ca: bool,
    pub can_create_cert: bool,
    pub can_revoke_cert: bool,
    pub can_export_private_key: bool,
    pub can_delete_ca: bool,
}
