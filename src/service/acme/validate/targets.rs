//! Which addresses validation may connect to (`ACME_VALIDATION_DENY_CIDRS`,
//! `ACME_VALIDATION_ALLOW_CIDRS`, judged by `service::address_policy`), and
//! the only way it opens a connection: resolve the name itself, check every
//! address, connect to a checked one. Nothing here lets a resolver or an HTTP
//! library pick the address.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use tokio::net::TcpStream;

use super::resolver::Resolver;
use crate::service::acme::problem::{Problem, ProblemType};
use crate::service::address_policy::AddressPolicy;

/// How long one TCP connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a validation connects: a DNS name, resolved here, or an address.
#[derive(Clone, Debug)]
pub(super) enum Host {
    Name(String),
    Ip(IpAddr),
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// The allow and deny lists of validation.
pub(super) struct Targets {
    policy: AddressPolicy,
}

impl Targets {
    pub(super) fn new(deny: Vec<IpNet>, allow: Vec<IpNet>) -> Self {
        Targets {
            policy: AddressPolicy::new(deny, allow),
        }
    }

    /// Whether validation may connect to `ip`.
    pub(super) fn allows(&self, ip: IpAddr) -> bool {
        self.policy.allows(ip)
    }

    /// The allowed addresses of `host`, in the resolver's order; a
    /// `connection` problem when none is allowed, a `dns` one when the name
    /// does not resolve.
    pub(super) async fn addresses(
        &self,
        resolver: &Resolver,
        host: &Host,
    ) -> Result<Vec<IpAddr>, Problem> {
        let all = match host {
            Host::Ip(ip) => vec![*ip],
            Host::Name(name) => resolver.addresses(name).await?,
        };
        let allowed: Vec<IpAddr> = all
            .iter()
            .map(|ip| ip.to_canonical())
            .filter(|ip| self.allows(*ip))
            .collect();
        if !allowed.is_empty() {
            return Ok(allowed);
        }
        let listed = all
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let detail = match host {
            Host::Ip(ip) => format!("{ip} is not an allowed validation target"),
            Host::Name(name) if all.len() == 1 => {
                format!("{name} resolves to {listed}, which is not an allowed validation target")
            }
            Host::Name(name) => format!(
                "{name} resolves to {listed}, none of which is an allowed validation target"
            ),
        };
        Err(Problem::new(ProblemType::Connection, detail))
    }

    /// A TCP connection to `host`:`port`: the first allowed address that
    /// accepts, each tried for at most 5 s. The address is returned with it.
    pub(super) async fn connect(
        &self,
        resolver: &Resolver,
        host: &Host,
        port: u16,
    ) -> Result<(TcpStream, SocketAddr), Problem> {
        let mut failures = Vec::new();
        for ip in self.addresses(resolver, host).await? {
            let addr = SocketAddr::new(ip, port);
            match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => return Ok((stream, addr)),
                Ok(Err(e)) => failures.push(format!("{addr}: {e}")),
                Err(_) => failures.push(format!(
                    "{addr}: no answer within {} s",
                    CONNECT_TIMEOUT.as_secs()
                )),
            }
        }
        Err(Problem::new(
            ProblemType::Connection,
            format!("cannot connect to {host} ({})", failures.join("; ")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn a_denied_address_is_a_connection_problem_before_any_connection() {
        let t = Targets::new(nets(&["127.0.0.0/8"]), vec![]);
        let resolver = Resolver::new(&["127.0.0.1:9".parse().unwrap()]).unwrap();
        let p = t
            .connect(&resolver, &Host::Ip(ip("127.0.0.1")), 9)
            .await
            .unwrap_err();
        assert_eq!(p.kind, ProblemType::Connection);
        assert_eq!(p.detail, "127.0.0.1 is not an allowed validation target");
    }
}
