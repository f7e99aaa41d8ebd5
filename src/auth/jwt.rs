//! Access tokens: HS256 JWTs with claims `sub, id, role, exp, iat, jti`.

use chrono::{DateTime, Utc};
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub id: i64,
    pub role: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    /// Issue time in microseconds: `iat` alone cannot tell apart a token issued
    /// just before an invalidation from one issued just after, in the same second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat_us: Option<i64>,
}

impl Claims {
    pub fn issued_at_micros(&self) -> i64 {
        self.iat_us.unwrap_or(self.iat.saturating_mul(1_000_000))
    }
}

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    algorithm: jsonwebtoken::Algorithm,
    pub ttl_minutes: i64,
}

impl JwtKeys {
    pub fn new(
        secret: &str,
        algorithm: jsonwebtoken::Algorithm,
        ttl_minutes: i64,
    ) -> anyhow::Result<Self> {
        Ok(JwtKeys {
            encoding: EncodingKey::from_secret(secret.as_bytes())?,
            decoding: DecodingKey::from_secret(secret.as_bytes())?,
            algorithm,
            ttl_minutes,
        })
    }

    /// Signs a new access token for a user.
    pub fn issue(
        &self,
        username: &str,
        id: i64,
        role: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(String, Claims)> {
        let claims = Claims {
            sub: username.to_owned(),
            id,
            role: role.to_owned(),
            exp: now.timestamp() + self.ttl_minutes * 60,
            iat: now.timestamp(),
            jti: uuid::Uuid::new_v4().to_string(),
            iat_us: Some(now.timestamp_micros()),
        };
        let token = jsonwebtoken::encode(&Header::new(self.algorithm), &claims, &self.encoding)?;
        Ok((token, claims))
    }

    /// Checks signature, algorithm (never `none`) and expiry.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let mut v = Validation::new(self.algorithm);
        v.leeway = 0;
        v.set_required_spec_claims(&["exp", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &v)
            .ok()
            .map(|d| d.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn keys() -> JwtKeys {
        JwtKeys::new("k".repeat(40).as_str(), jsonwebtoken::Algorithm::HS256, 15).unwrap()
    }

    #[test]
    fn round_trip() {
        let (t, c) = keys().issue("alice", 7, "user", Utc::now()).unwrap();
        let back = keys().verify(&t).unwrap();
        assert_eq!(back.sub, "alice");
        assert_eq!(back.jti, c.jti);
    }

    #[test]
    fn refuses_alg_none_tampering_and_expiry() {
        let (t, _) = keys().issue("alice", 7, "user", Utc::now()).unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let none_header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(
            keys()
                .verify(&format!("{none_header}.{}.", parts[1]))
                .is_none()
        );
        let mut payload: serde_json::Value =
            serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
        payload["role"] = "superuser".into();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64.encode(payload.to_string()),
            parts[2]
        );
        assert!(keys().verify(&forged).is_none());
        let other =
            JwtKeys::new("x".repeat(40).as_str(), jsonwebtoken::Algorithm::HS256, 15).unwrap();
        assert!(other.verify(&t).is_none());
        let (old, _) = keys()
            .issue(
                "alice",
                7,
                "user",
                Utc::now() - chrono::Duration::minutes(16),
            )
            .unwrap();
        assert!(keys().verify(&old).is_none());
    }
}
