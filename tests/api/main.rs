//! HTTP tests of the whole server, route by route. Run on SQLite by default
//! and on PostgreSQL when `FASTPKI_TEST_DATABASE_URL` is set.

mod audit;
mod auth;
mod common;
mod conventions;
mod orgs;
mod regressions;
mod renew;
mod service_accounts;
mod users;
