//! http-01 (RFC 8555 §8.3; RFC 8738 §4 for IP identifiers): `GET
//! http://<identifier>:<ACME_HTTP01_PORT>/.well-known/acme-challenge/<token>`
//! must answer 200 with the key authorization (trailing whitespace ignored).
//!
//! Redirects are followed, at most 10, and only to `http://` on
//! `ACME_HTTP01_PORT` or `https://` on `ACME_TLSALPN01_PORT` (Let's
//! Encrypt's rule with the configured ports for 80 and 443); the certificate
//! of an `https://` target is not verified. Every hop's host is resolved here
//! and each address checked before connecting. Bodies are read up to 8 KiB.

use std::pin::Pin;

use hyper::body::Body as _;
use hyper::header::{ACCEPT, CONNECTION, CONTENT_LENGTH, HOST, LOCATION, USER_AGENT};
use hyper_util::rt::TokioIo;
use reqwest::Url;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

use super::targets::Host;
use super::{Inner, quote_truncated};
use crate::service::acme::problem::{Problem, ProblemType};

/// Redirects followed from the challenge URL.
const MAX_REDIRECTS: usize = 10;
/// The largest response body read; a key authorization is about 90 bytes.
const MAX_BODY: usize = 8 * 1024;
/// The largest response head (status line and headers).
const MAX_HEAD: usize = 16 * 1024;

enum Answer {
    Redirect(String),
    Body(Vec<u8>),
}

pub(super) async fn validate(
    v: &Inner,
    host: &Host,
    token: &str,
    key_authorization: &str,
) -> Result<(), Problem> {
    let authority = match host {
        Host::Name(n) => n.trim_end_matches('.').to_string(),
        Host::Ip(std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
        Host::Ip(ip) => ip.to_string(),
    };
    let mut url = Url::parse(&format!(
        "http://{authority}/.well-known/acme-challenge/{token}"
    ))
    .map_err(|e| Problem::malformed(format!("no challenge URL for {host}: {e}")))?;
    let _ = url.set_port(Some(v.http01_port));
    let first = url.clone();
    for hop in 0..=MAX_REDIRECTS {
        match fetch(v, &url).await? {
            Answer::Body(body) => return check_body(&url, &body, key_authorization),
            Answer::Redirect(location) if hop < MAX_REDIRECTS => {
                url = redirect_target(v, &url, &location)?;
            }
            Answer::Redirect(_) => {
                return Err(Problem::new(
                    ProblemType::Connection,
                    format!("{first} redirected more than {MAX_REDIRECTS} times"),
                ));
            }
        }
    }
    unreachable!("the loop returns on its last hop")
}

fn check_body(url: &Url, body: &[u8], key_authorization: &str) -> Result<(), Problem> {
    if body.trim_ascii_end() == key_authorization.as_bytes() {
        return Ok(());
    }
    Err(Problem::new(
        ProblemType::IncorrectResponse,
        format!(
            "the body of {url} is not the key authorization {key_authorization:?}; got {}",
            quote_truncated(body)
        ),
    ))
}

/// Where a redirect from `from` to `location` leads, if it may be followed.
fn redirect_target(v: &Inner, from: &Url, location: &str) -> Result<Url, Problem> {
    let refuse = |why: String| {
        Problem::new(
            ProblemType::Connection,
            format!(
                "{from} redirected to {}: {why}",
                quote_truncated(location.as_bytes())
            ),
        )
    };
    let to = from
        .join(location)
        .map_err(|e| refuse(format!("not a URL ({e})")))?;
    let allowed_port = match to.scheme() {
        "http" => v.http01_port,
        "https" => v.tlsalpn01_port,
        _ => return Err(refuse("only http and https redirects are followed".into())),
    };
    if to.port_or_known_default() != Some(allowed_port) {
        return Err(refuse(format!(
            "a {} redirect must stay on port {allowed_port}",
            to.scheme()
        )));
    }
    if to.host().is_none() {
        return Err(refuse("no host".into()));
    }
    Ok(to)
}

/// The host of a parsed URL (which writes an IPv4 address in dotted form and
/// an IPv6 one in brackets).
fn host_of(url: &Url) -> Result<Host, Problem> {
    let host = url
        .host_str()
        .ok_or_else(|| Problem::malformed(format!("{url} has no host")))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    Ok(match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => Host::Ip(ip),
        Err(_) => Host::Name(host.to_string()),
    })
}

/// One GET of `url`, over a connection to a checked address.
async fn fetch(v: &Inner, url: &Url) -> Result<Answer, Problem> {
    let host = host_of(url)?;
    let port = url.port_or_known_default().unwrap_or(v.http01_port);
    let (tcp, addr) = v.targets.connect(&v.resolver, &host, port).await?;
    if url.scheme() != "https" {
        return get(url, tcp, addr).await;
    }
    let server_name = match &host {
        Host::Name(n) => ServerName::try_from(n.clone()),
        Host::Ip(ip) => Ok(ServerName::IpAddress((*ip).into())),
    }
    .map_err(|_| Problem::malformed(format!("{host} cannot be sent as a TLS server name")))?;
    let tls = TlsConnector::from(v.https.clone())
        .connect(server_name, tcp)
        .await
        .map_err(|e| {
            Problem::new(
                ProblemType::Tls,
                format!("TLS handshake with {host} at {addr} for {url} failed: {e}"),
            )
        })?;
    get(url, tls, addr).await
}

/// Aborts the task driving a connection when the fetch ends or is dropped
/// (on the validation's deadline).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn get<S>(url: &Url, io: S, addr: std::net::SocketAddr) -> Result<Answer, Problem>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let failed = |e: hyper::Error| {
        Problem::new(
            ProblemType::Connection,
            format!("GET {url} from {addr} failed: {e}"),
        )
    };
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(MAX_HEAD)
        .handshake::<_, String>(TokioIo::new(io))
        .await
        .map_err(failed)?;
    let _conn = AbortOnDrop(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let host_header = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    };
    let mut path = url.path().to_string();
    if let Some(q) = url.query() {
        path = format!("{path}?{q}");
    }
    let request = hyper::Request::get(path)
        .header(HOST, host_header)
        .header(USER_AGENT, "FastPKI ACME validator")
        .header(ACCEPT, "*/*")
        .header(CONNECTION, "close")
        .body(String::new())
        .map_err(|e| Problem::malformed(format!("cannot request {url}: {e}")))?;
    let response = sender.send_request(request).await.map_err(failed)?;
    let status = response.status();
    if status.is_redirection()
        && let Some(location) = response.headers().get(LOCATION)
    {
        let location = String::from_utf8_lossy(location.as_bytes()).into_owned();
        return Ok(Answer::Redirect(location));
    }
    if status != hyper::StatusCode::OK {
        return Err(Problem::new(
            ProblemType::IncorrectResponse,
            format!("GET {url} answered {status}, not 200 with the key authorization"),
        ));
    }
    let too_big = || {
        Problem::new(
            ProblemType::IncorrectResponse,
            format!(
                "the body of {url} is larger than {MAX_BODY} bytes; a key authorization is not"
            ),
        )
    };
    let declared = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| l.parse::<u64>().ok());
    if declared.is_some_and(|l| l > MAX_BODY as u64) {
        return Err(too_big());
    }
    let mut body = response.into_body();
    let mut data = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(failed)?;
        if let Ok(chunk) = frame.into_data() {
            if data.len() + chunk.len() > MAX_BODY {
                return Err(too_big());
            }
            data.extend_from_slice(&chunk);
        }
    }
    Ok(Answer::Body(data))
}
