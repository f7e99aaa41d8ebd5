//! Certificate authorities, and each CA's cached signed CRL.

use chrono::{DateTime, Utc};
use futures_util::{Stream, TryStreamExt, stream};
use sqlx::{AnyConnection, FromRow};

use super::{Db, Flag, OptTime, Time, ts};
use crate::store::certs::RevokedRow;

/// A stored CA. `private_key` is PEM or a Fernet token (see `keystore`).
#[derive(Clone, Debug, FromRow)]
pub struct CaRow {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub subject_dn: String,
    pub key_algorithm: String,
    pub key_size: i64,
    pub valid_days: i64,
    pub certificate: String,
    pub private_key: String,
    pub serial_number: String,
    #[sqlx(try_from = "Time")]
    pub not_before: DateTime<Utc>,
    #[sqlx(try_from = "Time")]
    pub not_after: DateTime<Utc>,
    pub organization_id: Option<i64>,
    pub created_by_user_id: Option<i64>,
    pub created_by_service_account_id: Option<i64>,
    pub parent_ca_id: Option<i64>,
    pub path_length: Option<i64>,
    #[sqlx(try_from = "Flag")]
    pub allow_leaf_certs: bool,
    pub crl_base_url: Option<String>,
    #[sqlx(try_from = "Flag")]
    pub is_root: bool,
    #[sqlx(try_from = "Time")]
    pub created_at: DateTime<Utc>,
    #[sqlx(try_from = "Time")]
    pub updated_at: DateTime<Utc>,
    /// Set when the parent CA revoked this one (never for a root).
    #[sqlx(try_from = "OptTime")]
    pub revoked_at: Option<DateTime<Utc>>,
    pub revocation_reason: Option<String>,
    pub revocation_reason_code: Option<i64>,
    /// PEM certificates above a CA whose issuer is outside FastPKI, issuer first.
    pub external_chain: Option<String>,
    /// The CSR of a pending CA (no certificate yet: `certificate` is empty).
    pub pending_csr: Option<String>,
}

impl CaRow {
    /// A CA whose certificate is not installed yet: it holds a key and signs nothing.
    pub fn is_pending(&self) -> bool {
        self.pending_csr.is_some()
    }
}

macro_rules! ca_columns {
    () => {
        "id, name, description, subject_dn, key_algorithm, key_size, valid_days, certificate, private_key, \
         serial_number, not_before, not_after, organization_id, created_by_user_id, \
         created_by_service_account_id, parent_ca_id, path_length, allow_leaf_certs, crl_base_url, is_root, \
         created_at, updated_at, revoked_at, revocation_reason, revocation_reason_code, external_chain, \
         pending_csr"
    };
}

/// Everything a new CA row needs.
pub struct NewCa<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub subject_dn: &'a str,
    pub key_algorithm: &'a str,
    pub key_size: i64,
    pub valid_days: i64,
    pub certificate: &'a str,
    pub private_key: &'a str,
    pub serial_number: &'a str,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub organization_id: Option<i64>,
    pub created_by_user_id: Option<i64>,
    pub created_by_service_account_id: Option<i64>,
    pub parent_ca_id: Option<i64>,
    pub path_length: Option<i64>,
    pub allow_leaf_certs: bool,
    pub crl_base_url: Option<&'a str>,
    pub is_root: bool,
    pub external_chain: Option<&'a str>,
    pub pending_csr: Option<&'a str>,
}

/// The columns a `NewCa` fills, in the order `bind_new_ca` binds them.
macro_rules! new_ca_columns {
    () => {
        "name, description, subject_dn, key_algorithm, key_size, valid_days, certificate, private_key, \
         serial_number, not_before, not_after, organization_id, created_by_user_id, \
         created_by_service_account_id, parent_ca_id, path_length, allow_leaf_certs, crl_base_url, is_root, \
         external_chain, pending_csr"
    };
}

pub async fn insert(c: &mut AnyConnection, n: &NewCa<'_>, now: &str) -> Result<CaRow, sqlx::Error> {
    let sql = concat!(
        "INSERT INTO certificate_authorities (",
        new_ca_columns!(),
        ", created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
         $17, $18, $19, $20, $21, $22, $22) RETURNING ",
        ca_columns!()
    );
    bind_new_ca(sqlx::query_as(sql), n)
        .bind(now)
        .fetch_one(c)
        .await
}

/// A CA row with the id and times it had in another database (`fastpki import fastpki`);
/// the caller moves PostgreSQL's identity sequence past the ids it wrote.
pub async fn insert_with_id(
    c: &mut AnyConnection,
    id: i64,
    n: &NewCa<'_>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
) -> Result<CaRow, sqlx::Error> {
    let sql = concat!(
        "INSERT INTO certificate_authorities (",
        new_ca_columns!(),
        ", created_at, updated_at, id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
         $16, $17, $18, $19, $20, $21, $22, $23, $24) RETURNING ",
        ca_columns!()
    );
    bind_new_ca(sqlx::query_as(sql), n)
        .bind(ts(created_at))
        .bind(ts(updated_at))
        .bind(id)
        .fetch_one(c)
        .await
}

fn bind_new_ca<'q>(
    q: sqlx::query::QueryAs<'q, sqlx::Any, CaRow, sqlx::any::AnyArguments>,
    n: &NewCa<'q>,
) -> sqlx::query::QueryAs<'q, sqlx::Any, CaRow, sqlx::any::AnyArguments> {
    q.bind(n.name)
        .bind(n.description)
        .bind(n.subject_dn)
        .bind(n.key_algorithm)
        .bind(n.key_size)
        .bind(n.valid_days)
        .bind(n.certificate)
        .bind(n.private_key)
        .bind(n.serial_number)
        .bind(ts(n.not_before))
        .bind(ts(n.not_after))
        .bind(n.organization_id)
        .bind(n.created_by_user_id)
        .bind(n.created_by_service_account_id)
        .bind(n.parent_ca_id)
        .bind(n.path_length)
        .bind(n.allow_leaf_certs)
        .bind(n.crl_base_url)
        .bind(n.is_root)
        .bind(n.external_chain)
        .bind(n.pending_csr)
}

pub async fn get(c: &mut AnyConnection, id: i64) -> Result<Option<CaRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        ca_columns!(),
        " FROM certificate_authorities WHERE id = $1"
    );
    sqlx::query_as(sql).bind(id).fetch_optional(c).await
}

/// CAs whose certificate has this serial (hex), whatever their issuer; at most 16.
pub async fn by_serial(c: &mut AnyConnection, serial_hex: &str) -> Result<Vec<CaRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        ca_columns!(),
        " FROM certificate_authorities WHERE serial_number = $1 ORDER BY id LIMIT 16"
    );
    sqlx::query_as(sql).bind(serial_hex).fetch_all(c).await
}

/// A CA certificate being installed on an existing CA row (pending or not).
pub struct InstalledCert<'a> {
    pub certificate: &'a str,
    pub serial_number: &'a str,
    pub subject_dn: &'a str,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub valid_days: i64,
    pub path_length: Option<i64>,
    pub is_root: bool,
    pub parent_ca_id: Option<i64>,
    pub external_chain: Option<&'a str>,
}

/// Puts a certificate on CA `id` and ends its pending state, if its certificate is still
/// `previous` (empty for a pending CA): false when another request changed it meanwhile.
pub async fn install_certificate(
    c: &mut AnyConnection,
    id: i64,
    previous: &str,
    n: &InstalledCert<'_>,
    now: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE certificate_authorities SET certificate = $1, serial_number = $2, subject_dn = $3, \
         not_before = $4, not_after = $5, valid_days = $6, path_length = $7, is_root = $8, parent_ca_id = $9, \
         external_chain = $10, pending_csr = NULL, updated_at = $11 WHERE id = $12 AND certificate = $13",
    )
    .bind(n.certificate)
    .bind(n.serial_number)
    .bind(n.subject_dn)
    .bind(ts(n.not_before))
    .bind(ts(n.not_after))
    .bind(n.valid_days)
    .bind(n.path_length)
    .bind(n.is_root)
    .bind(n.parent_ca_id)
    .bind(n.external_chain)
    .bind(now)
    .bind(id)
    .bind(previous)
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// CAs named `name`, in `org` (or anywhere when `org` is None).
pub async fn find_by_name(
    c: &mut AnyConnection,
    name: &str,
    org: Option<Option<i64>>,
) -> Result<Vec<CaRow>, sqlx::Error> {
    match org {
        None => {
            let sql = concat!(
                "SELECT ",
                ca_columns!(),
                " FROM certificate_authorities WHERE name = $1 ORDER BY id LIMIT 2"
            );
            sqlx::query_as(sql).bind(name).fetch_all(c).await
        }
        Some(org) => {
            let sql = concat!(
                "SELECT ",
                ca_columns!(),
                " FROM certificate_authorities WHERE name = $1 AND organization_id = $2 ORDER BY id LIMIT 2"
            );
            sqlx::query_as(sql).bind(name).bind(org).fetch_all(c).await
        }
    }
}

/// A page of CAs after the id `after` (0 from the start), `skip` rows past
/// it; `all` lists every organization's (superusers), else those of `org`.
pub async fn list(
    c: &mut AnyConnection,
    org: Option<i64>,
    all: bool,
    after: i64,
    skip: i64,
    limit: i64,
) -> Result<Vec<CaRow>, sqlx::Error> {
    if all {
        let sql = concat!(
            "SELECT ",
            ca_columns!(),
            " FROM certificate_authorities WHERE id > $1 ORDER BY id LIMIT $2 OFFSET $3"
        );
        return sqlx::query_as(sql)
            .bind(after)
            .bind(limit)
            .bind(skip)
            .fetch_all(c)
            .await;
    }
    let sql = concat!(
        "SELECT ",
        ca_columns!(),
        " FROM certificate_authorities WHERE organization_id = $1 AND id > $2 ORDER BY id LIMIT $3 OFFSET $4"
    );
    sqlx::query_as(sql)
        .bind(org)
        .bind(after)
        .bind(limit)
        .bind(skip)
        .fetch_all(c)
        .await
}

/// Every CA `list` selects past `skip`, in id order, read `window` rows at a
/// time by keyset cursor; a connection is held only while a window is read
/// (see `certs::stream`).
pub fn stream(
    db: Db,
    org: Option<i64>,
    all: bool,
    skip: i64,
    window: i64,
) -> impl Stream<Item = Result<CaRow, sqlx::Error>> + Send + 'static {
    let window = window.max(1);
    stream::try_unfold(Some((0, skip)), move |next| {
        let db = db.clone();
        async move {
            let Some((after, skip)) = next else {
                return Ok(None);
            };
            let rows = {
                let mut c = db.read().await?;
                list(&mut c, org, all, after, skip, window).await?
            };
            // (The connection is back in the pool before the rows go on.)
            let Some(last) = rows.last() else {
                return Ok::<_, sqlx::Error>(None);
            };
            let next = (rows.len() as i64 >= window).then_some((last.id, 0));
            Ok(Some((stream::iter(rows.into_iter().map(Ok)), next)))
        }
    })
    .try_flatten()
}

pub async fn children(c: &mut AnyConnection, id: i64) -> Result<Vec<CaRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        ca_columns!(),
        " FROM certificate_authorities WHERE parent_ca_id = $1 ORDER BY id"
    );
    sqlx::query_as(sql).bind(id).fetch_all(c).await
}

pub async fn count_children(c: &mut AnyConnection, id: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM certificate_authorities WHERE parent_ca_id = $1")
        .bind(id)
        .fetch_one(c)
        .await
}

pub async fn set_allow_leaf_certs(
    c: &mut AnyConnection,
    id: i64,
    allow: bool,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE certificate_authorities SET allow_leaf_certs = $1, updated_at = $2 WHERE id = $3",
    )
    .bind(allow)
    .bind(now)
    .bind(id)
    .execute(c)
    .await?;
    Ok(())
}

/// Marks a CA revoked; false when it already was (or is gone).
pub async fn revoke(
    c: &mut AnyConnection,
    id: i64,
    now: &str,
    reason: Option<&str>,
    code: Option<i64>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE certificate_authorities SET revoked_at = $1, revocation_reason = $2, \
         revocation_reason_code = $3, updated_at = $1 WHERE id = $4 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(reason)
    .bind(code)
    .bind(id)
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The revoked sub-CAs of a CA, deleted ones included, for its CRL.
pub async fn revoked_children(
    c: &mut AnyConnection,
    parent_id: i64,
) -> Result<Vec<RevokedRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT serial_number, revoked_at, revocation_reason_code FROM certificate_authorities \
         WHERE parent_ca_id = $1 AND revoked_at IS NOT NULL \
         UNION ALL SELECT serial_number, revoked_at, revocation_reason_code FROM ca_tombstones \
         WHERE parent_ca_id = $1 AND revoked_at IS NOT NULL",
    )
    .bind(parent_id)
    .fetch_all(c)
    .await
}

/// The nearest revoked CA on the way from `id` up to its root (`id` itself
/// included), as (id, name); None when the whole chain stands.
pub async fn revoked_in_chain(
    c: &mut AnyConnection,
    id: i64,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    // The depth bound only guards against a corrupted, looping parent chain.
    sqlx::query_as(
        "WITH RECURSIVE up (id, name, parent_ca_id, revoked_at, depth) AS ( \
           SELECT id, name, parent_ca_id, revoked_at, 0 FROM certificate_authorities WHERE id = $1 \
           UNION ALL \
           SELECT c.id, c.name, c.parent_ca_id, c.revoked_at, up.depth + 1 \
           FROM certificate_authorities c JOIN up ON c.id = up.parent_ca_id WHERE up.depth < 64) \
         SELECT id, name FROM up WHERE revoked_at IS NOT NULL ORDER BY depth LIMIT 1",
    )
    .bind(id)
    .fetch_optional(c)
    .await
}

pub async fn set_organization(
    c: &mut AnyConnection,
    id: i64,
    org: i64,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE certificate_authorities SET organization_id = $1, updated_at = $2 WHERE id = $3",
    )
    .bind(org)
    .bind(now)
    .bind(id)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn delete(c: &mut AnyConnection, id: i64) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM certificate_authorities WHERE id = $1")
            .bind(id)
            .execute(c)
            .await?
            .rows_affected(),
    )
}

/// Every CA's id and stored private key (for key encryption checks and rotation).
pub async fn all_keys(c: &mut AnyConnection) -> Result<Vec<(i64, String)>, sqlx::Error> {
    sqlx::query_as("SELECT id, private_key FROM certificate_authorities ORDER BY id")
        .fetch_all(c)
        .await
}

pub async fn set_private_key(c: &mut AnyConnection, id: i64, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE certificate_authorities SET private_key = $1 WHERE id = $2")
        .bind(key)
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}

/// A CA's cached signed CRL.
#[derive(Clone, Debug, FromRow)]
pub struct StoredCrl {
    pub crl_number: i64,
    pub crl_der: Option<Vec<u8>>,
    #[sqlx(try_from = "OptTime")]
    pub crl_next_update: Option<DateTime<Utc>>,
}

/// The current CRL of a CA, or the final one of a deleted CA.
pub async fn crl(c: &mut AnyConnection, id: i64) -> Result<Option<StoredCrl>, sqlx::Error> {
    let live = sqlx::query_as(
        "SELECT crl_number, crl_der, crl_next_update FROM certificate_authorities WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *c)
    .await?;
    if live.is_some() {
        return Ok(live);
    }
    sqlx::query_as("SELECT crl_number, crl_der, crl_next_update FROM ca_tombstones WHERE id = $1")
        .bind(id)
        .fetch_optional(c)
        .await
}

/// What a deleted CA still publishes: its name (for the slug) and certificate.
#[derive(Clone, Debug, FromRow)]
pub struct Tombstone {
    pub id: i64,
    pub name: String,
    pub certificate: String,
}

pub async fn tombstone(c: &mut AnyConnection, id: i64) -> Result<Option<Tombstone>, sqlx::Error> {
    sqlx::query_as("SELECT id, name, certificate FROM ca_tombstones WHERE id = $1")
        .bind(id)
        .fetch_optional(c)
        .await
}

/// Keeps what revocation checking needs of a CA about to be deleted: its
/// certificate, its revocation and its final CRL (signed by the caller).
pub async fn insert_tombstone(
    c: &mut AnyConnection,
    ca: &CaRow,
    crl: &FinalCrl<'_>,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO ca_tombstones (id, name, parent_ca_id, organization_id, serial_number, certificate, \
         not_after, revoked_at, revocation_reason, revocation_reason_code, crl_number, crl_der, \
         crl_this_update, crl_next_update, deleted_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(ca.id)
    .bind(&ca.name)
    .bind(ca.parent_ca_id)
    .bind(ca.organization_id)
    .bind(&ca.serial_number)
    .bind(&ca.certificate)
    .bind(ts(ca.not_after))
    .bind(ca.revoked_at.map(ts))
    .bind(ca.revocation_reason.as_deref())
    .bind(ca.revocation_reason_code)
    .bind(crl.number)
    .bind(crl.der)
    .bind(crl.this_update)
    .bind(crl.next_update)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

/// A deleted CA's last CRL.
pub struct FinalCrl<'a> {
    pub number: i64,
    pub der: &'a [u8],
    pub this_update: &'a str,
    pub next_update: &'a str,
}

/// Takes the CA's next CRL number. The UPDATE also serializes concurrent
/// rebuilds (and a deletion) of one CA.
pub async fn next_crl_number(c: &mut AnyConnection, id: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE certificate_authorities SET crl_number = crl_number + 1 WHERE id = $1 RETURNING crl_number",
    )
    .bind(id)
    .fetch_one(c)
    .await
}

pub async fn store_crl(
    c: &mut AnyConnection,
    id: i64,
    number: i64,
    der: &[u8],
    this_update: &str,
    next_update: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE certificate_authorities SET crl_number = $1, crl_der = $2, crl_this_update = $3, crl_next_update = $4 \
         WHERE id = $5",
    )
    .bind(number)
    .bind(der)
    .bind(this_update)
    .bind(next_update)
    .bind(id)
    .execute(c)
    .await?;
    Ok(())
}

/// CAs whose CRL runs out before `before` (or has never been built); pending CAs, which
/// have no certificate to sign with yet, are not.
pub async fn crls_due(c: &mut AnyConnection, before: &str) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM certificate_authorities WHERE (crl_next_update IS NULL OR crl_next_update < $1) \
         AND pending_csr IS NULL ORDER BY id",
    )
    .bind(before)
    .fetch_all(c)
    .await
}

/// A CA nearing expiry, as the expiry scan reads it.
#[derive(Clone, Debug, FromRow)]
pub struct ExpiringCaRow {
    pub id: i64,
    pub name: String,
    pub serial_number: String,
    pub organization_id: Option<i64>,
    pub parent_ca_id: Option<i64>,
    #[sqlx(try_from = "Time")]
    pub not_after: DateTime<Utc>,
}

/// A page of the CAs with a certificate, not revoked, not expired at `now`,
/// whose `not_after` is at most `by`, in (`not_after`, `id`) order after the
/// cursor `after` (as [`super::certs::expiring_page`]), on `cas_not_after`.
pub async fn expiring_page(
    c: &mut AnyConnection,
    now: DateTime<Utc>,
    by: DateTime<Utc>,
    after: Option<(DateTime<Utc>, i64)>,
    limit: i64,
) -> Result<Vec<ExpiringCaRow>, sqlx::Error> {
    let (from, after_id) = after.unwrap_or((now, i64::MAX));
    let from = from.max(now);
    sqlx::query_as(
        "SELECT id, name, serial_number, organization_id, parent_ca_id, not_after FROM certificate_authorities \
         WHERE not_after >= $1 AND not_after <= $2 AND revoked_at IS NULL AND pending_csr IS NULL \
         AND (not_after > $1 OR id > $3) ORDER BY not_after, id LIMIT $4",
    )
    .bind(ts(from))
    .bind(ts(by))
    .bind(after_id)
    .bind(limit)
    .fetch_all(c)
    .await
}
