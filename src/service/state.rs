//! What every request handler shares.

use std::sync::Arc;

use crate::auth::{
    jwt::JwtKeys,
    password::Hasher,
    ratelimit::{LoginThrottle, RateLimiter},
};
use crate::config::Settings;
use crate::service::acme::AcmeRuntime;
use crate::service::caller_slots::CallerSlots;
use crate::service::commit::CertWriter;
use crate::service::crl::CrlCache;
use crate::service::issuers::IssuerCache;
use crate::service::keypool::KeyPool;
use crate::service::keystore::KeyStore;
use crate::service::metrics::Metrics;
use crate::service::public::PublicCache;
use crate::service::webhooks::Webhooks;
use crate::store::Db;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub jwt: JwtKeys,
    pub hasher: Hasher,
    pub login_limiter: Arc<RateLimiter>,
    /// Back-off on failed logins per username.
    pub login_throttle: Arc<LoginThrottle>,
    pub keys: KeyStore,
    /// Bounds concurrent key generation and signing on the blocking pool.
    pub cpu: Arc<tokio::sync::Semaphore>,
    /// Bounds each caller's share of `cpu`, so that one caller cannot starve the others.
    pub caller_slots: Arc<CallerSlots>,
    pub crls: Arc<CrlCache>,
    pub issuers: Arc<IssuerCache>,
    /// CA certificates the public routes serve, by slug.
    pub public: Arc<PublicCache>,
    pub key_pool: Arc<KeyPool>,
    /// Group commit of issued certificates.
    pub cert_writer: CertWriter,
    /// The address the server listens on, once it serves: the only host (with
    /// `ALLOWED_HOSTS`) a request's `Host` header may name for URLs written into
    /// certificates.
    pub listen_addr: Option<std::net::SocketAddr>,
    /// Where serial numbers come from (random; a test may force collisions).
    pub serials: Arc<dyn Fn() -> pki::SerialNumber + Send + Sync>,
    /// Rows per database read of a list streamed whole (tests make it small).
    pub list_window: i64,
    /// ACME nonces and the validation worker's signal.
    pub acme: Arc<AcmeRuntime>,
    /// What `/metrics` shows.
    pub metrics: Arc<Metrics>,
    /// Webhook events: the outbox, the sender and the receivers of every event.
    pub webhooks: Arc<Webhooks>,
}

impl AppState {
    pub fn new(settings: Settings, db: Db) -> anyhow::Result<Self> {
        let jwt = JwtKeys::new(
            &settings.secret_key,
            settings.jwt_algorithm,
            settings.access_token_expire_minutes,
        )?;
        let hasher = Hasher::new(settings.bcrypt_cost)?;
        let login_limiter = Arc::new(RateLimiter::new(settings.auth_rate_limit));
        let keys = KeyStore::new(settings.private_key_encryption_key.as_deref())?;
        let settings_key_pool = settings.key_pool_size;
        let acme = Arc::new(AcmeRuntime::new(&settings)?);
        let freshness = settings.cache_freshness;
        let pooled = settings.key_pool_algorithms.clone();
        let metrics = Metrics::new(&settings)?;
        let webhooks = Arc::new(Webhooks::new(&settings)?);
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Ok(AppState {
            settings: Arc::new(settings),
            cert_writer: CertWriter::start(db.clone(), metrics.clone(), webhooks.outbox.clone()),
            serials: Arc::new(pki::random_serial),
            listen_addr: None,
            db,
            jwt,
            hasher,
            login_limiter,
            login_throttle: Arc::new(LoginThrottle::default()),
            keys,
            cpu: Arc::new(tokio::sync::Semaphore::new(cores * 2)),
            crls: Arc::new(CrlCache::fresh_for(freshness).counted(metrics.cache("crl"))),
            issuers: Arc::new(IssuerCache::tagged().counted(metrics.cache("issuer"))),
            public: Arc::new(PublicCache::fresh_for(freshness).counted(metrics.cache("public_ca"))),
            key_pool: KeyPool::new(settings_key_pool, pooled),
            caller_slots: Arc::new(CallerSlots::new(cores)),
            list_window: crate::service::LIST_WINDOW,
            acme,
            metrics,
            webhooks,
        })
    }
}
