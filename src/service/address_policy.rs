//! Which addresses the server may connect to when a client names the host:
//! ACME validation targets (`ACME_VALIDATION_{DENY,ALLOW}_CIDRS`) and webhook
//! receivers (`WEBHOOK_{DENY,ALLOW}_CIDRS`). Callers resolve a name
//! themselves, check every address here, and connect only to one that passed.

use std::net::IpAddr;

use ipnet::IpNet;

/// The allow and deny lists. An address passes when no deny network holds it
/// and, if the allow list is not empty, an allow network does.
#[derive(Clone, Debug)]
pub struct AddressPolicy {
    deny: Vec<IpNet>,
    allow: Vec<IpNet>,
}

impl AddressPolicy {
    pub fn new(deny: Vec<IpNet>, allow: Vec<IpNet>) -> Self {
        AddressPolicy { deny, allow }
    }

    /// Whether `ip` may be connected to (an IPv4-mapped IPv6 address is
    /// judged as the IPv4 address it maps, so `::ffff:169.254.169.254` is
    /// link-local too).
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        !self.deny.iter().any(|n| n.contains(&ip))
            && (self.allow.is_empty() || self.allow.iter().any(|n| n.contains(&ip)))
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

    #[test]
    fn deny_wins_and_allow_restricts() {
        let t = AddressPolicy::new(nets(&["169.254.0.0/16", "fe80::/10"]), vec![]);
        assert!(t.allows(ip("127.0.0.1")));
        assert!(t.allows(ip("10.1.2.3")));
        assert!(t.allows(ip("::1")));
        assert!(!t.allows(ip("169.254.169.254")));
        assert!(!t.allows(ip("fe80::1")));
        // The IPv4-mapped form of a denied address is denied.
        assert!(!t.allows(ip("::ffff:169.254.169.254")));

        let t = AddressPolicy::new(nets(&["10.0.0.0/24"]), nets(&["10.0.0.0/8"]));
        assert!(t.allows(ip("10.1.0.1")));
        assert!(!t.allows(ip("10.0.0.1")), "deny wins over allow");
        assert!(!t.allows(ip("192.168.1.1")), "only the allowed networks");
        assert!(t.allows(ip("::ffff:10.1.0.1")));
    }
}
