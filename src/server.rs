//! Starting and stopping the HTTP server.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::Request;

use crate::config::Settings;
use crate::state::AppState;
use crate::store::Db;

/// Connects, migrates and builds the shared state.
pub async fn prepare(settings: Settings) -> Result<AppState> {
    let db = Db::connect(&settings.database_url, settings.backend).await?;
    let mut conn = db.migrate().await?;
    let state = AppState::new(settings, db)?;
    crate::keystore::check_at_start(&mut conn, &state.keys).await?;
    Ok(state)
}

/// Serves on an already-bound listener until `shutdown` resolves.
pub async fn serve_on(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    crate::service::sessions::spawn_cleanup(state.clone(), Duration::from_secs(600));
    crate::service::crl::spawn_refresh(state.clone(), Duration::from_secs(600));
    // Warm the key pool for the configured algorithms.
    state.key_pool.warm();
    let db = state.db.clone();
    let app = crate::api::app(state);
    let service =
        axum::ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(app);
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
        .context("server error")?;
    db.close().await;
    Ok(())
}

/// `fastpki serve`: bind, log where, and run until Ctrl-C or SIGTERM.
pub async fn run(settings: Settings, bind: &str) -> Result<()> {
    let started = std::time::Instant::now();
    let state = prepare(settings).await?;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    tracing::info!(
        address = %listener.local_addr()?,
        backend = ?state.settings.backend,
        ready_ms = started.elapsed().as_millis() as u64,
        "FastPKI is listening"
    );
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
