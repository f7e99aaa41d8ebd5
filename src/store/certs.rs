//! Certificates and their revocation.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use futures_util::{Stream, TryStreamExt, stream};
use sqlx::{AnyConnection, FromRow};

use super::{Db, JsonList, OptTime, Time, json_list, ts};

#[derive(Clone, Debug, FromRow)]
pub struct CertRow {
    pub id: i64,
    pub common_name: String,
    pub subject_dn: String,
    pub certificate_type: String,
    pub key_algorithm: String,
    pub key_size: i64,
    pub valid_days: i64,
    pub status: String,
    pub certificate: String,
    /// Whether a private key is stored; the key itself is read only to export it.
    #[sqlx(try_from = "i64")]
    pub key_stored: KeyStored,
    pub key_origin: String,
    pub serial_number: String,
    #[sqlx(try_from = "Time")]
    pub not_before: DateTime<Utc>,
    #[sqlx(try_from = "Time")]
    pub not_after: DateTime<Utc>,
    #[sqlx(try_from = "JsonList<String>")]
    pub san_dns_names: Vec<String>,
    #[sqlx(try_from = "JsonList<IpAddr>")]
    pub san_ip_addresses: Vec<IpAddr>,
    #[sqlx(try_from = "JsonList<String>")]
    pub san_email_addresses: Vec<String>,
    #[sqlx(try_from = "OptTime")]
    pub revoked_at: Option<DateTime<Utc>>,
    pub revocation_reason: Option<String>,
    pub revocation_reason_code: Option<i64>,
    pub issuer_id: i64,
    pub organization_id: Option<i64>,
    pub created_by_user_id: Option<i64>,
    pub created_by_service_account_id: Option<i64>,
    pub renewed_from_id: Option<i64>,
    #[sqlx(try_from = "Time")]
    pub created_at: DateTime<Utc>,
    #[sqlx(try_from = "Time")]
    pub updated_at: DateTime<Utc>,
}

/// A stored private key's presence (0 or 1 in SQL, on both databases).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyStored(pub bool);

impl From<i64> for KeyStored {
    fn from(flag: i64) -> Self {
        KeyStored(flag != 0)
    }
}

// Every column but the private key, which stays in the database until exported.
macro_rules! cert_columns {
    () => {
        "id, common_name, subject_dn, certificate_type, key_algorithm, key_size, valid_days, status, certificate, \
         CASE WHEN private_key IS NULL THEN 0 ELSE 1 END AS key_stored, key_origin, serial_number, not_before, \
         not_after, san_dns_names, san_ip_addresses, san_email_addresses, revoked_at, revocation_reason, \
         revocation_reason_code, issuer_id, organization_id, \
         created_by_user_id, created_by_service_account_id, renewed_from_id, created_at, updated_at"
    };
}

/// A certificate to insert (owned: it travels to the group-commit writer).
pub struct NewCert {
    pub common_name: String,
    pub subject_dn: String,
    pub certificate_type: String,
    pub key_algorithm: String,
    pub key_size: i64,
    pub valid_days: i64,
    pub certificate: String,
    pub private_key: Option<String>,
    pub key_origin: String,
    pub serial_number: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub san_dns_names: Vec<String>,
    pub san_ip_addresses: Vec<IpAddr>,
    pub san_email_addresses: Vec<String>,
    pub issuer_id: i64,
    pub organization_id: Option<i64>,
    pub created_by_user_id: Option<i64>,
    pub created_by_service_account_id: Option<i64>,
    pub renewed_from_id: Option<i64>,
}

/// Inserts certificates in one statement; returns their rows in the order given.
pub async fn insert_many(
    c: &mut AnyConnection,
    certs: &[&NewCert],
    now: &str,
) -> Result<Vec<CertRow>, sqlx::Error> {
    let sql = format!(
        concat!(
            "INSERT INTO certificates (common_name, subject_dn, certificate_type, key_algorithm, key_size, \
             valid_days, status, certificate, private_key, key_origin, serial_number, not_before, not_after, \
             san_dns_names, san_ip_addresses, san_email_addresses, issuer_id, organization_id, \
             created_by_user_id, created_by_service_account_id, renewed_from_id, created_at, updated_at) \
             VALUES {} RETURNING ",
            cert_columns!()
        ),
        super::values_rows(
            "(?, ?, ?, ?, ?, ?, 'valid', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, $1, $1)",
            certs.len(),
            2
        )
    );
    // Built from constants and numbered placeholders only: no input in the text.
    let mut q = sqlx::query_as::<_, CertRow>(sqlx::AssertSqlSafe(sql)).bind(now);
    for n in certs {
        q = q
            .bind(&n.common_name)
            .bind(&n.subject_dn)
            .bind(&n.certificate_type)
            .bind(&n.key_algorithm)
            .bind(n.key_size)
            .bind(n.valid_days)
            .bind(&n.certificate)
            .bind(&n.private_key)
            .bind(&n.key_origin)
            .bind(&n.serial_number)
            .bind(ts(n.not_before))
            .bind(ts(n.not_after))
            .bind(json_list(&n.san_dns_names))
            .bind(json_list(&n.san_ip_addresses))
            .bind(json_list(&n.san_email_addresses))
            .bind(n.issuer_id)
            .bind(n.organization_id)
            .bind(n.created_by_user_id)
            .bind(n.created_by_service_account_id)
            .bind(n.renewed_from_id);
    }
    let mut rows = q.fetch_all(c).await?;
    // RETURNING promises no order: put each row back where its certificate was.
    let mut ordered = Vec::with_capacity(certs.len());
    for n in certs {
        let at = rows
            .iter()
            .position(|r| r.issuer_id == n.issuer_id && r.serial_number == n.serial_number)
            .ok_or_else(|| {
                sqlx::Error::Protocol("an inserted certificate was not returned".into())
            })?;
        ordered.push(rows.swap_remove(at));
    }
    Ok(ordered)
}

pub async fn get(c: &mut AnyConnection, id: i64) -> Result<Option<CertRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        cert_columns!(),
        " FROM certificates WHERE id = $1"
    );
    sqlx::query_as(sql).bind(id).fetch_optional(c).await
}

/// The stored (possibly sealed) private key of a certificate, if any.
/// The certificate of CA `issuer_id` with this serial (lowercase hex, whole
/// octets). Certificates imported from FastPKI keep its form, without a
/// leading zero digit (`format(n, "x")`): either form is found.
pub async fn by_serial(
    c: &mut AnyConnection,
    issuer_id: i64,
    serial_hex: &str,
) -> Result<Option<CertRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        cert_columns!(),
        " FROM certificates WHERE issuer_id = $1 AND serial_number IN ($2, $3) ORDER BY id LIMIT 1"
    );
    let unpadded = serial_hex.strip_prefix('0').unwrap_or(serial_hex);
    sqlx::query_as(sql)
        .bind(issuer_id)
        .bind(serial_hex)
        .bind(unpadded)
        .fetch_optional(c)
        .await
}

pub async fn private_key(c: &mut AnyConnection, id: i64) -> Result<Option<String>, sqlx::Error> {
    let key: Option<Option<String>> =
        sqlx::query_scalar("SELECT private_key FROM certificates WHERE id = $1")
            .bind(id)
            .fetch_optional(c)
            .await?;
    Ok(key.flatten())
}

/// A certificate and the ids of its renewals in one round trip: the first
/// renewal's id and their count come with the row, and only a certificate
/// renewed more than once costs a second query.
pub async fn get_with_renewals(
    c: &mut AnyConnection,
    id: i64,
) -> Result<Option<(CertRow, Vec<i64>)>, sqlx::Error> {
    #[derive(FromRow)]
    struct Found {
        #[sqlx(flatten)]
        row: CertRow,
        first_renewal: Option<i64>,
        renewals: i64,
    }
    let sql = concat!(
        "SELECT ",
        cert_columns!(),
        ", (SELECT MIN(r.id) FROM certificates r WHERE r.renewed_from_id = certificates.id) AS first_renewal",
        ", (SELECT COUNT(*) FROM certificates r WHERE r.renewed_from_id = certificates.id) AS renewals",
        " FROM certificates WHERE id = $1"
    );
    let Some(found) = sqlx::query_as::<_, Found>(sql)
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
    else {
        return Ok(None);
    };
    let renewed_to = match (found.first_renewal, found.renewals) {
        (None, _) => vec![],
        (Some(first), 1) => vec![first],
        _ => renewed_to(c, id).await?,
    };
    Ok(Some((found.row, renewed_to)))
}

/// Filters of the certificate list; `organization_id` is the caller's scope.
/// `after_id` is the keyset cursor (0 from the start): pages that follow it
/// cost the same at any depth, where `skip` costs O(skip).
#[derive(Clone, Debug, Default)]
pub struct CertFilter {
    pub all_organizations: bool,
    pub organization_id: Option<i64>,
    pub issuer_id: Option<i64>,
    pub status: Option<StatusFilter>,
    /// Only certificates not expired at `now` whose `not_after` is at most this (stored format).
    pub expires_by: Option<String>,
    /// The time `status` and `expires_by` are judged at (stored format).
    pub now: String,
    pub after_id: i64,
    pub skip: i64,
    pub limit: i64,
}

/// A certificate's status as the API shows it (`expired` is not stored: a
/// `valid` row past its `not_after`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFilter {
    /// Neither revoked nor expired.
    Valid,
    Revoked,
    /// Not revoked, past its `not_after`.
    Expired,
}

/// A value bound to a numbered placeholder of a built statement.
#[derive(Clone, Debug)]
pub enum Bound {
    Int(i64),
    Text(String),
}

/// The `WHERE` conditions of a list, each ending in `AND`, with their values
/// bound to `$1`, `$2`, ... in order.
#[derive(Default)]
struct Conditions {
    sql: String,
    values: Vec<Bound>,
}

impl Conditions {
    /// Adds `column op $n` for the next `n`.
    fn push(&mut self, column: &str, op: &str, value: Bound) {
        self.values.push(value);
        self.sql
            .push_str(&format!("{column} {op} ${} AND ", self.values.len()));
    }

    /// The next placeholder, for a value the caller binds after these.
    fn next(&mut self, value: Bound) -> String {
        self.values.push(value);
        format!("${}", self.values.len())
    }
}

/// The statement of [`list`] and its values in placeholder order (public so
/// that a test can ask the database for its plan).
///
/// The page's ids are found on an index alone (OFFSET steps over index
/// entries, not over whole rows); only the page's rows are then read. Each
/// filter has an index ending in `id`, so `id > cursor` is a seek. With
/// `expires_by` the ids come from a range of `certificates_not_after`
/// instead, which holds status, CA, organization and id: a unary `+` keeps
/// the organization, CA and id conditions off their own indexes (SQLite,
/// without statistics, would otherwise step through a whole organization or
/// the whole table in id order), and the range's ids are then sorted.
pub fn list_query(f: &CertFilter) -> (String, Vec<Bound>) {
    let plus = if f.expires_by.is_some() { "+" } else { "" };
    let mut w = Conditions::default();
    if !f.all_organizations {
        match f.organization_id {
            Some(org) => w.push(&format!("{plus}organization_id"), "=", Bound::Int(org)),
            // No organization: nothing is in scope.
            None => w.sql.push_str("1 = 0 AND "),
        }
    }
    if let Some(ca) = f.issuer_id {
        w.push(&format!("{plus}issuer_id"), "=", Bound::Int(ca));
    }
    match f.status {
        None => {}
        Some(StatusFilter::Valid) => {
            w.sql.push_str("status = 'valid' AND ");
            w.push("not_after", ">", Bound::Text(f.now.clone()));
        }
        Some(StatusFilter::Revoked) => w.sql.push_str("status = 'revoked' AND "),
        Some(StatusFilter::Expired) => {
            w.sql.push_str("status = 'valid' AND ");
            w.push("not_after", "<=", Bound::Text(f.now.clone()));
        }
    }
    if let Some(by) = &f.expires_by {
        if f.status != Some(StatusFilter::Valid) {
            w.push("not_after", ">", Bound::Text(f.now.clone()));
        }
        w.push("not_after", "<=", Bound::Text(by.clone()));
    }
    let after = w.next(Bound::Int(f.after_id));
    let limit = w.next(Bound::Int(f.limit));
    let offset = w.next(Bound::Int(f.skip));
    let sql = format!(
        concat!(
            "SELECT ",
            cert_columns!(),
            " FROM certificates WHERE id IN (SELECT id FROM certificates WHERE {}{}id > {} \
             ORDER BY id LIMIT {} OFFSET {}) ORDER BY id"
        ),
        w.sql, plus, after, limit, offset
    );
    (sql, w.values)
}

pub async fn list(c: &mut AnyConnection, f: &CertFilter) -> Result<Vec<CertRow>, sqlx::Error> {
    let (sql, values) = list_query(f);
    // Built from constants and numbered placeholders only: every value is bound.
    let mut q = sqlx::query_as::<_, CertRow>(sqlx::AssertSqlSafe(sql));
    for v in values {
        q = match v {
            Bound::Int(i) => q.bind(i),
            Bound::Text(t) => q.bind(t),
        };
    }
    q.fetch_all(c).await
}

/// The statement of [`expiring_per_issuer`] (public for a test of its plan).
pub const EXPIRING_PER_ISSUER: &str = "SELECT issuer_id, \
     CAST(SUM(CASE WHEN not_after <= $2 THEN 1 ELSE 0 END) AS BIGINT), CAST(COUNT(*) AS BIGINT) \
     FROM certificates WHERE not_after > $1 AND not_after <= $3 AND status = 'valid' GROUP BY issuer_id";

/// Per CA, its certificates still valid at `now` (not revoked, not expired)
/// whose `not_after` is at most `soon`, and at most `later` (`soon` <= `later`):
/// (CA id, by `soon`, by `later`). One range of `certificates_not_after`.
pub async fn expiring_per_issuer(
    c: &mut AnyConnection,
    now: &str,
    soon: &str,
    later: &str,
) -> Result<Vec<(i64, i64, i64)>, sqlx::Error> {
    sqlx::query_as(EXPIRING_PER_ISSUER)
        .bind(now)
        .bind(soon)
        .bind(later)
        .fetch_all(c)
        .await
}

/// Every row `f` selects (its `limit` aside), in id order, each with the ids
/// of its renewals: read `window` rows at a time by keyset cursor, each window
/// on a connection taken from the read pool and given back before its rows are
/// handed on. A slow consumer therefore holds no connection (and on SQLite no
/// read snapshot) while it waits, and memory holds one window at most. Rows
/// committed while the stream runs appear if their id is past the cursor.
pub fn stream(
    db: Db,
    f: CertFilter,
    window: i64,
) -> impl Stream<Item = Result<(CertRow, Vec<i64>), sqlx::Error>> + Send + 'static {
    let window = window.max(1);
    let first = CertFilter { limit: window, ..f };
    stream::try_unfold(Some(first), move |next| {
        let db = db.clone();
        async move {
            let Some(mut f) = next else {
                return Ok(None);
            };
            let rows = read_window(&db, &f).await?;
            let Some((last, _)) = rows.last() else {
                return Ok::<_, sqlx::Error>(None);
            };
            // A short window is the last; `skip` applies before the first only.
            let next = (rows.len() as i64 >= window).then(|| {
                f.after_id = last.id;
                f.skip = 0;
                f
            });
            Ok(Some((stream::iter(rows.into_iter().map(Ok)), next)))
        }
    })
    .try_flatten()
}

/// One window of `stream`: its rows and their renewals, on a connection held
/// for these two queries only.
async fn read_window(db: &Db, f: &CertFilter) -> Result<Vec<(CertRow, Vec<i64>)>, sqlx::Error> {
    let mut c = db.read().await?;
    let rows = list(&mut c, f).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut lineage = renewed_to_many(&mut c, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let to = lineage.remove(&r.id).unwrap_or_default();
            (r, to)
        })
        .collect())
}

/// Ids of the certificates renewed from `id`.
pub async fn renewed_to(c: &mut AnyConnection, id: i64) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM certificates WHERE renewed_from_id = $1 ORDER BY id")
        .bind(id)
        .fetch_all(c)
        .await
}

/// Marks a certificate revoked unless it already is; true when this call did it.
pub async fn revoke(
    c: &mut AnyConnection,
    id: i64,
    at: &str,
    reason: Option<&str>,
    reason_code: Option<i64>,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE certificates SET status = 'revoked', revoked_at = $1, revocation_reason = $2, \
         revocation_reason_code = $3, updated_at = $1 WHERE id = $4 AND status <> 'revoked'",
    )
    .bind(at)
    .bind(reason)
    .bind(reason_code)
    .bind(id)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// One revoked certificate of a CA, for its CRL.
#[derive(Clone, Debug, FromRow)]
pub struct RevokedRow {
    pub serial_number: String,
    #[sqlx(try_from = "OptTime")]
    pub revoked_at: Option<DateTime<Utc>>,
    pub revocation_reason_code: Option<i64>,
}

pub async fn revoked_of(
    c: &mut AnyConnection,
    issuer_id: i64,
) -> Result<Vec<RevokedRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT serial_number, revoked_at, revocation_reason_code FROM certificates \
         WHERE issuer_id = $1 AND status = 'revoked' ORDER BY revoked_at, id",
    )
    .bind(issuer_id)
    .fetch_all(c)
    .await
}

/// Revokes every unexpired certificate of a CA that is not revoked yet (the
/// CA is being retired: RFC 5280 cessationOfOperation); returns each
/// certificate revoked.
pub async fn revoke_live_of_issuer(
    c: &mut AnyConnection,
    issuer_id: i64,
    now: &str,
) -> Result<Vec<CertRow>, sqlx::Error> {
    let sql = concat!(
        "UPDATE certificates SET status = 'revoked', revoked_at = $1, revocation_reason = 'cessationOfOperation', \
         revocation_reason_code = 5, updated_at = $1 WHERE issuer_id = $2 AND status <> 'revoked' AND not_after > $1 \
         RETURNING ",
        cert_columns!()
    );
    sqlx::query_as(sql)
        .bind(now)
        .bind(issuer_id)
        .fetch_all(c)
        .await
}

/// A certificate nearing expiry, as the expiry scan reads it.
#[derive(Clone, Debug, FromRow)]
pub struct ExpiringRow {
    pub id: i64,
    pub serial_number: String,
    pub common_name: String,
    pub issuer_id: i64,
    pub organization_id: Option<i64>,
    #[sqlx(try_from = "Time")]
    pub not_after: DateTime<Utc>,
}

/// A page of the certificates neither revoked nor expired at `now` whose
/// `not_after` is at most `by`, in (`not_after`, `id`) order, after the
/// cursor `after` (the last row of the previous page; None from the start).
/// Each page is a range of `certificates_not_after` starting at the cursor.
pub async fn expiring_page(
    c: &mut AnyConnection,
    now: DateTime<Utc>,
    by: DateTime<Utc>,
    after: Option<(DateTime<Utc>, i64)>,
    limit: i64,
) -> Result<Vec<ExpiringRow>, sqlx::Error> {
    // From the start, the cursor is (now, +inf): `not_after > now`.
    let (from, after_id) = after.unwrap_or((now, i64::MAX));
    let from = from.max(now);
    sqlx::query_as(
        "SELECT id, serial_number, common_name, issuer_id, organization_id, not_after FROM certificates \
         WHERE not_after >= $1 AND not_after <= $2 AND status = 'valid' AND (not_after > $1 OR id > $3) \
         ORDER BY not_after, id LIMIT $4",
    )
    .bind(ts(from))
    .bind(ts(by))
    .bind(after_id)
    .bind(limit)
    .fetch_all(c)
    .await
}

/// Deletes a CA's revoked and expired certificates, never a live one: one
/// issued meanwhile stays, and its foreign key then stops the CA's deletion.
pub async fn delete_dead_of_issuer(
    c: &mut AnyConnection,
    issuer_id: i64,
    now: &str,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "DELETE FROM certificates WHERE issuer_id = $1 AND (status = 'revoked' OR not_after <= $2)",
    )
    .bind(issuer_id)
    .bind(now)
    .execute(c)
    .await?
    .rows_affected())
}

/// Adopts organization-less certificates of a CA into `org`.
pub async fn adopt_of_issuer(
    c: &mut AnyConnection,
    issuer_id: i64,
    org: i64,
    now: &str,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE certificates SET organization_id = $1, updated_at = $2 WHERE issuer_id = $3 AND organization_id IS NULL",
    )
    .bind(org)
    .bind(now)
    .bind(issuer_id)
    .execute(c)
    .await?
    .rows_affected())
}

/// Every certificate id and stored private key, for key encryption checks and rotation.
pub async fn all_keys(c: &mut AnyConnection) -> Result<Vec<(i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, private_key FROM certificates WHERE private_key IS NOT NULL ORDER BY id",
    )
    .fetch_all(c)
    .await
}

/// The `n` most recently issued certificates that keep a private key.
pub async fn newest_keys(c: &mut AnyConnection, n: i64) -> Result<Vec<(i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, private_key FROM certificates WHERE private_key IS NOT NULL ORDER BY id DESC LIMIT $1",
    )
    .bind(n)
    .fetch_all(c)
    .await
}

pub async fn set_private_key(c: &mut AnyConnection, id: i64, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE certificates SET private_key = $1 WHERE id = $2")
        .bind(key)
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}

/// For each id, the certificates renewed from it (one query for a whole page).
pub async fn renewed_to_many(
    c: &mut AnyConnection,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, Vec<i64>>, sqlx::Error> {
    let mut out: std::collections::HashMap<i64, Vec<i64>> = std::collections::HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    // Only numbered placeholders are spliced in; the values are bound.
    let sql = format!(
        "SELECT renewed_from_id, id FROM certificates WHERE renewed_from_id IN ({}) ORDER BY id",
        placeholders.join(", ")
    );
    let mut q = sqlx::query_as::<_, (i64, i64)>(sqlx::AssertSqlSafe(sql));
    for id in ids {
        q = q.bind(*id);
    }
    for (from, id) in q.fetch_all(c).await? {
        out.entry(from).or_default().push(id);
    }
    Ok(out)
}
