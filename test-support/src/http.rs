//! JSON calls over reqwest to a server on a real port, and logging in.

use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::{Value, json};

/// The password of the users these tests make.
pub const PASSWORD: &str = "password123";

/// Status and JSON body (Null when empty, a string when not JSON) of a request;
/// any 5xx fails the test.
pub async fn send(rb: RequestBuilder) -> (StatusCode, Value) {
    let r = rb.send().await.expect("request sent");
    let status = r.status();
    let text = r.text().await.expect("body");
    assert!(!status.is_server_error(), "{status}: {text}");
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, v)
}

/// The body of an answer that must have `status`.
#[track_caller]
pub fn want(got: (StatusCode, Value), status: u16, what: &str) -> Value {
    assert_eq!(got.0.as_u16(), status, "{what}: {}", got.1);
    got.1
}

/// Sends; the JSON body of an answer that must have `status`.
pub async fn json(rb: RequestBuilder, status: u16, what: &str) -> Value {
    want(send(rb).await, status, what)
}

/// Sends; the body, as text, of an answer that must have `status` (a file, a PEM).
pub async fn text(rb: RequestBuilder, status: u16, what: &str) -> String {
    let r = rb.send().await.expect("request sent");
    let got = r.status().as_u16();
    let text = r.text().await.expect("body");
    assert_eq!(got, status, "{what}: {text}");
    text
}

/// Creates the first user, `root` (a superuser with `PASSWORD`), with no token.
pub async fn bootstrap_root(c: &Client, api: &str) {
    json(
        c.post(format!("{api}/users/")).json(
            &json!({"username": "root", "email": "root@example.com", "password": PASSWORD, "role": "superuser"}),
        ),
        201,
        "bootstrap",
    )
    .await;
}

/// `POST /auth/token`: status and body.
pub async fn login_pair(c: &Client, api: &str, user: &str, password: &str) -> (StatusCode, Value) {
    send(
        c.post(format!("{api}/auth/token"))
            .form(&[("username", user), ("password", password)]),
    )
    .await
}

/// Logs `user` in with `PASSWORD`: (access token, refresh token).
pub async fn login(c: &Client, api: &str, user: &str) -> (String, String) {
    let v = want(login_pair(c, api, user, PASSWORD).await, 200, "login");
    (
        v["access_token"].as_str().unwrap().to_string(),
        v["refresh_token"].as_str().unwrap().to_string(),
    )
}
