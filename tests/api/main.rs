//! HTTP tests of the whole server, route by route. Run on SQLite by default
//! and on PostgreSQL when `FASTPKI_TEST_DATABASE_URL` is set.

mod acme_client;
mod acme_directories;
mod acme_flow;
mod acme_protocol;
mod attacks;
mod audit;
mod audit_integrity;
mod auth;
mod authz_cells;
mod backup;
mod ca_import;
mod ca_revocation;
mod cas;
mod certs;
mod common;
mod conventions;
mod crl_refresh;
mod db_outage;
mod expiry;
mod export;
mod hostile;
mod https;
mod import;
mod interop;
mod list_pages;
mod metrics;
mod orgs;
mod pki_matrix;
mod public;
mod regressions;
mod renew;
mod service_accounts;
mod users;
mod webhooks;
