//! The DNS lookups of validation, through hickory's stub resolver: the servers
//! of `ACME_DNS_RESOLVERS`, or the system's (`/etc/resolv.conf`) when it is
//! empty. It answers dns-01's TXT lookups and the addresses http-01 and
//! tls-alpn-01 connect to; the resolver follows CNAMEs.
//!
//! Nothing is cached (a client that fixes its record and retries must be seen
//! at once), `/etc/hosts` is not read (DNS is what is validated), and every
//! name is looked up as absolute (no search domains).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::Context;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{Name, RData};

use crate::service::acme::problem::{Problem, ProblemType};

/// One query's wait for an answer, per attempt (hickory tries a server up to
/// `attempts` + 1 times): a silent server fails in about 6 s, within the 10 s
/// of a validation attempt, as a `dns` problem.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// A validation resolver (cheap to share: clone the `Validator` that holds it).
pub(super) struct Resolver {
    inner: TokioResolver,
}

impl Resolver {
    /// A resolver asking `servers` (UDP, then TCP for truncated answers), or
    /// the system's servers when `servers` is empty.
    pub(super) fn new(servers: &[SocketAddr]) -> anyhow::Result<Self> {
        let mut builder = if servers.is_empty() {
            TokioResolver::builder_tokio().context(
                "ACME validation: cannot read the system's DNS configuration \
                 (/etc/resolv.conf); set ACME_DNS_RESOLVERS",
            )?
        } else {
            let name_servers = servers
                .iter()
                .map(|s| {
                    let mut ns = NameServerConfig::udp_and_tcp(s.ip());
                    for c in &mut ns.connections {
                        c.port = s.port();
                    }
                    ns
                })
                .collect();
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(name_servers),
                TokioRuntimeProvider::default(),
            )
        };
        let opts = builder.options_mut();
        opts.cache_size = 0;
        opts.use_hosts_file = ResolveHosts::Never;
        opts.timeout = QUERY_TIMEOUT;
        opts.attempts = 2;
        opts.ndots = 0;
        let inner = builder
            .build()
            .context("ACME validation: cannot build the DNS resolver")?;
        Ok(Resolver { inner })
    }

    /// The IPv6 and IPv4 addresses of `name` (IPv6 first).
    pub(super) async fn addresses(&self, name: &str) -> Result<Vec<IpAddr>, Problem> {
        let fqdn = absolute(name)?;
        match self.inner.lookup_ip(fqdn).await {
            Ok(lookup) => {
                let ips: Vec<IpAddr> = lookup.iter().collect();
                if ips.is_empty() {
                    Err(no_records(name, "A or AAAA"))
                } else {
                    Ok(ips)
                }
            }
            Err(e) => Err(lookup_failure(name, "A or AAAA", &e)),
        }
    }

    /// The TXT records at `name`, each one's strings joined (RFC 7208 §3.3 style).
    pub(super) async fn txt(&self, name: &str) -> Result<Vec<Vec<u8>>, Problem> {
        let fqdn = absolute(name)?;
        match self.inner.txt_lookup(fqdn).await {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::TXT(txt) => Some(txt.txt_data.concat()),
                    _ => None,
                })
                .collect()),
            Err(e) => Err(lookup_failure(name, "TXT", &e)),
        }
    }
}

/// `name` as an absolute DNS name (a trailing dot: no search domain is tried).
fn absolute(name: &str) -> Result<Name, Problem> {
    let trimmed = name.trim_end_matches('.');
    Name::from_ascii(format!("{trimmed}."))
        .map_err(|e| Problem::malformed(format!("{name:?} is not a DNS name: {e}")))
}

fn no_records(name: &str, kind: &str) -> Problem {
    Problem::new(
        ProblemType::Dns,
        format!("no {kind} record found for {name}"),
    )
}

/// A failed lookup as a `dns` problem that says why.
fn lookup_failure(name: &str, kind: &str, e: &NetError) -> Problem {
    if e.is_nx_domain() {
        return Problem::new(
            ProblemType::Dns,
            format!("{name} does not exist (NXDOMAIN looking up {kind})"),
        );
    }
    if e.is_no_records_found() {
        return no_records(name, kind);
    }
    let detail = match e {
        NetError::Timeout => format!("DNS lookup of {kind} for {name} timed out"),
        other => format!("DNS lookup of {kind} for {name} failed: {other}"),
    };
    Problem::new(ProblemType::Dns, detail)
}
