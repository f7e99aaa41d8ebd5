//! Starting and stopping the HTTP server, and the accept loop that bounds what
//! slow or numerous clients can hold: a header-read timeout, a cap on connections
//! (over it, new ones wait in the listen backlog) and a cap per client address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

use crate::config::Settings;
use crate::service::AppState;
use crate::store::Db;

/// Connects, migrates and builds the shared state.
pub async fn prepare(settings: Settings) -> Result<AppState> {
    let db = Db::connect_waiting(
        &settings.database_url,
        settings.backend,
        settings.database_pool_timeout,
    )
    .await?;
    let mut conn = db.migrate().await?;
    let state = AppState::new(settings, db)?;
    crate::service::key_rotation::check_at_start(&mut conn, &state.keys).await?;
    Ok(state)
}

/// Serves on an already-bound listener until `shutdown` resolves.
pub async fn serve_on(
    mut state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    state.listen_addr = listener.local_addr().ok();
    crate::service::sessions::spawn_cleanup(state.clone(), Duration::from_secs(600));
    crate::service::crl::spawn_refresh(state.clone(), Duration::from_secs(600));
    state.metrics.spawn_upkeep();
    // Warm the key pool for the configured algorithms.
    state.key_pool.warm();
    let db = state.db.clone();
    let limits = Limits {
        header_read_timeout: Duration::from_secs(state.settings.header_read_timeout_secs),
        max_connections: connection_budget(state.settings.max_connections, fd_soft_limit()),
        max_per_ip: state.settings.max_connections_per_ip,
    };
    let tls = match &state.settings.tls {
        Some((cert, key)) => Some(crate::tls::acceptor(cert, key)?),
        None => None,
    };
    crate::service::acme::worker::spawn(state.clone());
    let webhook_tasks = crate::service::webhooks::worker::spawn(state.clone());
    let app = crate::api::app(state);
    serve_connections(listener, app, limits, tls, shutdown).await;
    // A delivery cut short is sent again once its lease lapses.
    for task in webhook_tasks {
        task.abort();
    }
    db.close().await;
    Ok(())
}

/// What one server lets its clients hold.
struct Limits {
    header_read_timeout: Duration,
    max_connections: usize,
    /// 0: no limit per address.
    max_per_ip: usize,
}

/// Descriptors kept back for everything that is not a client connection: the
/// listener, the database pool, SQLite's WAL and shm files, the runtime, logs.
const FD_RESERVE: u64 = 128;

/// The soft RLIMIT_NOFILE in force, if it can be read.
fn fd_soft_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes into the struct we own and pass by pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    Some(lim.rlim_cur)
}

/// Raises the soft descriptor limit to the hard limit (often 1024 against 500000 or
/// more), so that `MAX_CONNECTIONS` can be honoured without running out.
pub fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read or write the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
                tracing::debug!("could not raise the open-file limit");
            }
        }
    }
}

/// `MAX_CONNECTIONS`, lowered (with a warning) so that connections can never use
/// the descriptors the rest of the process needs: accept never meets EMFILE.
fn connection_budget(wanted: usize, fd_soft: Option<u64>) -> usize {
    let Some(soft) = fd_soft else { return wanted };
    let room = usize::try_from(soft.saturating_sub(FD_RESERVE))
        .unwrap_or(usize::MAX)
        .max(1);
    if wanted > room {
        tracing::warn!(
            max_connections = wanted,
            open_file_limit = soft,
            serving = room,
            "MAX_CONNECTIONS is above what the open-file limit allows: raise `ulimit -n` (LimitNOFILE=) or lower MAX_CONNECTIONS"
        );
        return room;
    }
    wanted
}

/// Live connections per client address (an IPv6 /64 counts as one address).
struct PerIp {
    limit: usize,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in [`PerIp`], given back when it closes.
struct IpSlot {
    table: Arc<PerIp>,
    key: IpAddr,
}

impl PerIp {
    fn try_take(table: &Arc<PerIp>, ip: IpAddr) -> Option<IpSlot> {
        let key = crate::auth::ratelimit::client_key(ip);
        if table.limit > 0 {
            let mut counts = table.counts.lock().unwrap_or_else(|p| p.into_inner());
            let n = counts.entry(key).or_insert(0);
            if *n >= table.limit {
                return None;
            }
            *n += 1;
        }
        Some(IpSlot {
            table: table.clone(),
            key,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        if self.table.limit == 0 {
            return;
        }
        let mut counts = self.table.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// Accept errors that concern one connection only; anything else (EMFILE,
/// ENFILE, ENOBUFS) means the process is short of resources and should pause.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// The accept loop. Over `max_connections` it stops accepting, so new clients
/// wait in the kernel's listen backlog rather than being refused: every slot held
/// by a silent client frees within the header-read timeout. Over the limit per
/// address, a new connection is closed at once. On `shutdown`, stops accepting,
/// lets the connections finish their current request, and returns.
async fn serve_connections(
    listener: TcpListener,
    app: crate::api::App,
    limits: Limits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let handshake_timeout = limits.header_read_timeout;
    let max = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let slots = Arc::new(Semaphore::new(max as usize));
    let per_ip = Arc::new(PerIp {
        limit: limits.max_per_ip,
        counts: Mutex::new(HashMap::new()),
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    // hyper starts the header clock when a connection opens and again as soon as it
    // is idle after an answer, so this is also the keep-alive idle timeout.
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let (stop_tx, _) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "accept error");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Some(ip_slot) = PerIp::try_take(&per_ip, peer.ip()) else {
            tracing::debug!(client = %peer.ip(), "too many connections from one address: closed");
            continue;
        };
        let app = app.clone();
        let https = tls.is_some();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let mut req = req.map(axum::body::Body::new);
            req.extensions_mut().insert(ConnectInfo(peer));
            if https {
                req.extensions_mut()
                    .insert(crate::api::extract::ServedOverTls);
            }
            app.clone().oneshot(req)
        });
        let stop = stop_tx.subscribe();
        let (http, tls) = (http.clone(), tls.clone());
        tokio::spawn(async move {
            let _held = (permit, ip_slot);
            match tls {
                None => drive(http.serve_connection(TokioIo::new(stream), service), stop).await,
                Some(acceptor) => {
                    // The handshake is bounded like a request head: a silent
                    // client cannot hold its slot longer.
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls_stream)) => {
                            drive(
                                http.serve_connection(TokioIo::new(tls_stream), service),
                                stop,
                            )
                            .await
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(());
    // Every connection holds a permit: having them all back means all have ended.
    let _ = slots.acquire_many(max).await;
}

/// Serves one connection until it ends, or until `stop` asks it to finish
/// its current request and close.
async fn drive<I, S, B>(
    conn: hyper::server::conn::http1::Connection<I, S>,
    mut stop: watch::Receiver<()>,
) where
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut conn = pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::trace!(error = %e, "connection ended");
            }
        }
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// `fastpki serve`: bind, log where, and run until Ctrl-C or SIGTERM.
pub async fn run(settings: Settings, bind: &str) -> Result<()> {
    let started = std::time::Instant::now();
    raise_fd_limit();
    let state = prepare(settings).await?;
    let listener = TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    tracing::info!(
        address = %listener.local_addr()?,
        backend = ?state.settings.backend,
        ready_ms = started.elapsed().as_millis() as u64,
        "FastPKI is listening"
    );
    let local = listener.local_addr()?;
    if state.settings.public_base_url.is_none() && !local.ip().is_loopback() {
        tracing::warn!(
            address = %local,
            "PUBLIC_BASE_URL is unset: certificates get CRL and AIA URLs on a Host named in \
             ALLOWED_HOSTS or on the listening address; set PUBLIC_BASE_URL to the address \
             relying parties reach"
        );
    }
    serve_on(state, listener, shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
