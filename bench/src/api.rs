//! The few API calls the set-up needs (first user, login, CAs, one revocation).

use anyhow::{Context, Result, bail};
use reqwest::Client;
use serde_json::{Value, json};

pub const USERNAME: &str = "bench";
pub const PASSWORD: &str = "bench password 0123";

/// The server's API, as the benchmark's superuser sees it.
#[derive(Clone)]
pub struct Api {
    pub client: Client,
    pub api: String,
}

/// A CA made for the run.
#[derive(Clone, Debug)]
pub struct Ca {
    pub id: i64,
    pub name: String,
    pub certificate: String,
}

impl Ca {
    /// `{slug(name)}-{id}`: the names used here are already lowercase slugs.
    pub fn slug(&self) -> String {
        format!("{}-{}", self.name, self.id)
    }
}

async fn answer(resp: reqwest::Response, expect: u16, what: &str) -> Result<Value> {
    let status = resp.status().as_u16();
    let text = resp.text().await?;
    if status != expect {
        bail!("{what}: HTTP {status} (expected {expect}): {text}");
    }
    Ok(if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).with_context(|| format!("{what}: not JSON"))?
    })
}

impl Api {
    pub fn new(client: Client, base: &str) -> Api {
        Api {
            client,
            api: format!("{base}/api/v1"),
        }
    }

    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: Value,
        expect: u16,
    ) -> Result<Value> {
        let mut rb = self.client.post(format!("{}{path}", self.api)).json(&body);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        answer(rb.send().await?, expect, path).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Result<Value> {
        let rb = self
            .client
            .get(format!("{}{path}", self.api))
            .bearer_auth(token);
        answer(rb.send().await?, 200, path).await
    }

    /// The first user: a superuser, created without a token.
    pub async fn bootstrap(&self) -> Result<()> {
        self.post(
            "/users/",
            None,
            json!({"username": USERNAME, "email": "bench@example.com", "password": PASSWORD, "role": "superuser"}),
            201,
        )
        .await?;
        Ok(())
    }

    /// A fresh access token (tokens expire after 15 minutes: each phase logs in again).
    pub async fn login(&self) -> Result<String> {
        let resp = self
            .client
            .post(format!("{}/auth/token", self.api))
            .form(&[("username", USERNAME), ("password", PASSWORD)])
            .send()
            .await?;
        let v = answer(resp, 200, "login").await?;
        v["access_token"]
            .as_str()
            .map(str::to_string)
            .context("login: no access_token")
    }

    pub async fn create_ca(
        &self,
        token: &str,
        name: &str,
        algorithm: &str,
        key_size: Option<u32>,
    ) -> Result<Ca> {
        let mut body = json!({
            "name": name,
            "subject_dn": format!("CN={name},O=FastPKI Bench"),
            "key_algorithm": algorithm,
            "valid_days": 3650,
        });
        if let Some(bits) = key_size {
            body["key_size"] = bits.into();
        }
        let v = self.post("/cas/", Some(token), body, 201).await?;
        Ok(Ca {
            id: v["id"].as_i64().context("CA id")?,
            name: name.to_string(),
            certificate: v["certificate"]
                .as_str()
                .context("CA certificate")?
                .to_string(),
        })
    }

    /// The RSA CAs of W1 and W2 (`bench-rsa2048`) and of W2b (`bench-rsa4096`).
    pub async fn rsa_cas(&self, token: &str) -> Result<(Ca, Ca)> {
        let rsa2048 = self
            .create_ca(token, "bench-rsa2048", "rsa", Some(2048))
            .await?;
        let rsa4096 = self
            .create_ca(token, "bench-rsa4096", "rsa", Some(4096))
            .await?;
        Ok((rsa2048, rsa4096))
    }

    /// The CA's private key PEM (superuser export).
    pub async fn ca_key(&self, token: &str, id: i64) -> Result<String> {
        let v = self.get(&format!("/cas/{id}/private-key"), token).await?;
        v["private_key"]
            .as_str()
            .map(str::to_string)
            .context("CA private key")
    }

    /// Issues one certificate with a server-made P-256 key (RSA on a server
    /// that makes only RSA keys); returns its id.
    pub async fn issue_p256(&self, token: &str, ca: i64, cn: &str) -> Result<i64> {
        let v = self
            .post(
                &format!("/certificates/?ca_id={ca}"),
                Some(token),
                json!({"common_name": cn, "subject_dn": format!("CN={cn}"), "certificate_type": "server", "key_algorithm": "ecdsa-p256"}),
                201,
            )
            .await?;
        v["id"].as_i64().context("certificate id")
    }

    pub async fn revoke(&self, token: &str, id: i64) -> Result<()> {
        self.post(
            &format!("/certificates/{id}/revoke"),
            Some(token),
            json!({"reason": "superseded"}),
            200,
        )
        .await?;
        Ok(())
    }
}
