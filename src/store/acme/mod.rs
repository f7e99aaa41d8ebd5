//! ACME storage (migration 0009): directories and their external account
//! binding keys; accounts, orders, authorizations, challenges and used nonces.

pub mod accounts;
pub mod authorizations;
pub mod challenges;
pub mod directories;
pub mod eab_keys;
pub mod nonces;
pub mod orders;
