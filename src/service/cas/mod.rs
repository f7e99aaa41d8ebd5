//! Certificate authorities, one concept a file: `create` (root or
//! intermediate), `import` (a CA made elsewhere), `csr` and `install` (a CA
//! whose certificate a CA outside FastPKI signs), `view` (the API's shape and
//! the reads, and whether a CA may still sign), `update` (moving into an
//! organization), `retire` (revoke, delete).

mod create;
mod csr;
mod import;
mod install;
mod retire;
mod update;
mod view;

pub use create::{CaCreate, create};
pub use csr::{CaCsr, CaCsrNew, create_pending, csr};
pub use import::{CaImport, import};
pub use install::{CaCertificateInstall, install};
pub use retire::{delete, revoke};
pub use update::{CaUpdate, update};
pub use view::{
    CaOut, audit_export, chain, chain_rows, children, ensure_can_issue, get, list, list_all, load,
    load_for, owner, private_key,
};
