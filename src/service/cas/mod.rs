//! Certificate authorities, one concept a file: `create` (root or
//! intermediate), `view` (the API's shape and the reads, and whether a CA may
//! still sign), `update` (moving into an organization), `retire` (revoke,
//! delete).

mod create;
mod retire;
mod update;
mod view;

pub use create::{CaCreate, create};
pub use retire::{delete, revoke};
pub use update::{CaUpdate, update};
pub use view::{
    CaOut, audit_export, chain, chain_rows, children, ensure_can_issue, get, list, list_all, load,
    load_for, owner, private_key,
};
