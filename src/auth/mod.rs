//! Who is calling: passwords, JWTs, refresh tokens, and the `Principal` a
//! bearer token turns into.

pub mod authz;
pub mod jwt;
pub mod password;
mod principal;
pub mod ratelimit;
mod role;
pub mod service_tokens;
pub mod tokens;

use crate::error::{Error, Result};
use crate::store;

pub use principal::Principal;
pub use role::Role;

fn invalid_credentials() -> Error {
    Error::Unauthorized("Could not validate credentials".into())
}

/// Turns a bearer token into a principal, or 401. `pepper` keys the digests
/// of service-account tokens.
pub async fn authenticate(
    jwt: &jwt::JwtKeys,
    db: &store::Db,
    pepper: &str,
    bearer: &str,
) -> Result<Principal> {
    if let Some(rest) = bearer.strip_prefix(service_tokens::PREFIX) {
        return service_tokens::authenticate(db, pepper, rest).await;
    }
    let claims = jwt.verify(bearer).ok_or_else(invalid_credentials)?;
    let mut conn = db.read().await?;
    let user = store::users::get_for_token(&mut conn, claims.id, &claims.jti)
        .await?
        .ok_or_else(invalid_credentials)?;
    if user.username != claims.sub {
        return Err(invalid_credentials());
    }
    if user
        .tokens_invalidated_at
        .is_some_and(|c| claims.issued_at_micros() < c.timestamp_micros())
    {
        return Err(invalid_credentials());
    }
    Ok(Principal::User {
        user,
        token: claims,
    })
}
