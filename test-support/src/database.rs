//! Test databases: a SQLite file by default, or a fresh PostgreSQL database when
//! `FASTPKI_TEST_DATABASE_URL` names a server the tests may create databases on.

use std::path::Path;

use sqlx::Connection;

/// The variable that names the PostgreSQL server (any database on it) for the tests.
const URL_VARIABLE: &str = "FASTPKI_TEST_DATABASE_URL";

/// `FASTPKI_TEST_DATABASE_URL`, when it is set and not empty.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var(URL_VARIABLE).ok().filter(|u| !u.is_empty())
}

/// With `FASTPKI_REQUIRE_POSTGRES=1` (CI's PostgreSQL pass), a test that would skip or fall
/// back to SQLite because `FASTPKI_TEST_DATABASE_URL` is unset fails instead.
pub fn fail_if_postgres_required(what: &str) {
    assert_ne!(
        std::env::var("FASTPKI_REQUIRE_POSTGRES").as_deref(),
        Ok("1"),
        "FASTPKI_REQUIRE_POSTGRES=1 but FASTPKI_TEST_DATABASE_URL is unset: {what} would not run on PostgreSQL"
    );
}

/// Creates a database `<prefix><random>` on the server of `admin`; returns its name and URL.
pub async fn create_postgres_database(admin: &str, prefix: &str) -> (String, String) {
    let name = format!("{prefix}{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(admin)
        .await
        .expect("connect to FASTPKI_TEST_DATABASE_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let (server, _) = admin.rsplit_once('/').expect("database URL has a path");
    let url = format!("{server}/{name}");
    (name, url)
}

/// A fresh database URL: a new PostgreSQL database (`fastpki_t_…`, which CI drops at the
/// end) with `FASTPKI_TEST_DATABASE_URL`, else the SQLite file `fastpki.db` in `dir`.
/// `what` names the tests in the failure that `FASTPKI_REQUIRE_POSTGRES=1` causes.
pub async fn fresh_database(dir: &Path, what: &str) -> String {
    match postgres_admin_url() {
        Some(admin) => create_postgres_database(&admin, "fastpki_t_").await.1,
        None => {
            fail_if_postgres_required(what);
            format!("sqlite:///{}", dir.join("fastpki.db").display())
        }
    }
}

/// A fresh PostgreSQL database, dropped (with its connections) when this is dropped.
pub struct PostgresDb {
    admin: String,
    name: String,
    pub url: String,
}

impl PostgresDb {
    pub async fn create(admin: &str, prefix: &str) -> PostgresDb {
        let (name, url) = create_postgres_database(admin, prefix).await;
        PostgresDb {
            admin: admin.to_string(),
            name,
            url,
        }
    }
}

impl Drop for PostgresDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Its own runtime on its own thread: drop may run inside a test's runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut c)
                    .await;
                }
            })
        })
        .join();
    }
}
