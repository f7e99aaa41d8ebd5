//! Issuance-policy rules, pure: what a policy may hold and how it judges the
//! effective request (after CSR extraction, overrides and defaults). Deny by default.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// What a service account may ask for. An empty list allows nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Policy {
    /// Shell globs the common name must match (case-sensitive).
    #[serde(default)]
    pub cn_patterns: Vec<String>,
    /// Shell globs every DNS SAN must match (case-insensitive).
    #[serde(default)]
    pub san_dns_patterns: Vec<String>,
    /// CIDRs (IPv4 or IPv6) every IP SAN must fall in.
    #[serde(default)]
    pub san_ip_cidrs: Vec<String>,
    /// Domains every e-mail SAN must be at (exactly; no subdomains).
    #[serde(default)]
    pub san_email_domains: Vec<String>,
    #[serde(default)]
    pub allowed_ca_ids: Vec<i64>,
    /// `server`, `client`, `dual_purpose`, `ca`.
    #[serde(default)]
    pub allowed_certificate_types: Vec<String>,
    /// Longest validity, in days; none means no limit beyond the server's.
    #[serde(default)]
    pub max_validity_days: Option<i64>,
    /// Whether wildcard names (`*.example.com`, as CN or DNS SAN) may be
    /// issued at all; a pattern's `*` covers them only then.
    #[serde(default)]
    pub allow_wildcards: bool,
}

/// The effective request a policy judges.
pub struct Request<'a> {
    pub ca_id: i64,
    pub certificate_type: &'a str,
    pub valid_days: i64,
    pub common_name: &'a str,
    pub dns: &'a [String],
    pub ips: &'a [IpAddr],
    pub emails: &'a [String],
}

/// The first constraint a request breaks: the policy field that refused it and
/// the effective value refused (a number for CA ids and days, else text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub field: &'static str,
    pub value: serde_json::Value,
}

fn violation(field: &'static str, value: impl Into<serde_json::Value>) -> Violation {
    Violation {
        field,
        value: value.into(),
    }
}

/// Checks a policy is well formed (patterns, CIDRs, types); returns the first problem.
pub fn validate(p: &Policy) -> Result<(), String> {
    for c in &p.san_ip_cidrs {
        parse_cidr(c).ok_or_else(|| {
            format!("san_ip_cidrs: {c:?} is not a CIDR such as 10.0.0.0/8 or fd00::/8")
        })?;
    }
    for t in &p.allowed_certificate_types {
        if !matches!(t.as_str(), "server" | "client" | "dual_purpose" | "ca") {
            return Err(format!("allowed_certificate_types: unknown type {t:?}"));
        }
    }
    if p.max_validity_days
        .is_some_and(|d| !(1..=36_500).contains(&d))
    {
        return Err("max_validity_days must be between 1 and 36500".into());
    }
    let lists = [&p.cn_patterns, &p.san_dns_patterns, &p.san_email_domains];
    if lists
        .iter()
        .any(|l| l.iter().any(|s| s.is_empty() || s.len() > 253))
    {
        return Err("patterns and domains must be 1 to 253 characters".into());
    }
    if [
        &p.cn_patterns,
        &p.san_dns_patterns,
        &p.san_ip_cidrs,
        &p.san_email_domains,
    ]
    .iter()
    .any(|l| l.len() > 1000)
        || p.allowed_ca_ids.len() > 1000
    {
        return Err("at most 1000 entries per list".into());
    }
    Ok(())
}

/// Allows the request, or names the first constraint it breaks, in FastPKI's
/// order: type, CA, common name, DNS, IP and e-mail SANs, validity.
pub fn evaluate(p: &Policy, r: &Request) -> Result<(), Violation> {
    if !p
        .allowed_certificate_types
        .iter()
        .any(|t| t == r.certificate_type)
    {
        return Err(violation("allowed_certificate_types", r.certificate_type));
    }
    if !p.allowed_ca_ids.contains(&r.ca_id) {
        return Err(violation("allowed_ca_ids", r.ca_id));
    }
    if r.common_name.contains('*') && !p.allow_wildcards {
        return Err(violation("allow_wildcards", r.common_name));
    }
    if !p
        .cn_patterns
        .iter()
        .any(|pat| glob(pat, r.common_name, false))
    {
        return Err(violation("cn_patterns", r.common_name));
    }
    for name in r.dns {
        if name.contains('*') && !p.allow_wildcards {
            return Err(violation("allow_wildcards", name.as_str()));
        }
        if !p.san_dns_patterns.iter().any(|pat| glob(pat, name, true)) {
            return Err(violation("san_dns_patterns", name.as_str()));
        }
    }
    for ip in r.ips {
        if !p
            .san_ip_cidrs
            .iter()
            .filter_map(|c| parse_cidr(c))
            .any(|(net, bits)| in_cidr(*ip, net, bits))
        {
            return Err(violation("san_ip_cidrs", ip.to_string()));
        }
    }
    for email in r.emails {
        let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        if !p
            .san_email_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain))
        {
            return Err(violation("san_email_domains", email.as_str()));
        }
    }
    if p.max_validity_days.is_some_and(|max| r.valid_days > max) {
        return Err(violation("max_validity_days", r.valid_days));
    }
    Ok(())
}

/// Shell-style glob: `*` any run (including none), `?` one character, `[...]` a set.
/// A `*` in the text (a wildcard name) is matched by a pattern's `*` alone.
pub fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let fold = |s: &str| {
        if ignore_case {
            s.to_lowercase()
        } else {
            s.to_string()
        }
    };
    let (p, t): (Vec<char>, Vec<char>) = (
        fold(pattern).chars().collect(),
        fold(text).chars().collect(),
    );
    // Iterative matcher with backtracking to the last star: linear in practice, no recursion.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
                continue;
            }
            // The `*` of a wildcard name is consumed by a pattern's `*` only:
            // never by `?`, a set, or as a literal.
            _ if t[ti] == '*' => {}
            Some('?') => {
                pi += 1;
                ti += 1;
                continue;
            }
            Some('[') => {
                if let Some((matched, next)) = class(&p, pi, t[ti]) {
                    if matched {
                        pi = next;
                        ti += 1;
                        continue;
                    }
                } else if t[ti] == '[' {
                    pi += 1;
                    ti += 1;
                    continue;
                }
            }
            Some(c) if *c == t[ti] => {
                pi += 1;
                ti += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Matches `c` against the bracket expression at `p[start]`; None when the bracket is not closed.
fn class(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some('!') | Some('^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while let Some(&pc) = p.get(i) {
        if pc == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|e| *e != ']') {
            let end = p[i + 2];
            matched |= pc <= c && c <= end;
            i += 3;
        } else {
            matched |= pc == c;
            i += 1;
        }
    }
    None
}

/// `addr/bits` (a bare address is a single host).
pub fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, bits) = match s.trim().split_once('/') {
        Some((a, b)) => (a.parse::<IpAddr>().ok()?, b.parse::<u8>().ok()?),
        None => {
            let a = s.trim().parse::<IpAddr>().ok()?;
            (a, if a.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((addr, bits))
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            cn_patterns: vec!["*.svc.example.com".into(), "build-?".into()],
            san_dns_patterns: vec!["*.svc.example.com".into()],
            san_ip_cidrs: vec!["10.0.0.0/24".into(), "fd00::/64".into()],
            san_email_domains: vec!["example.com".into()],
            allowed_ca_ids: vec![1],
            allowed_certificate_types: vec!["server".into(), "client".into()],
            max_validity_days: Some(30),
            allow_wildcards: false,
        }
    }

    fn req<'a>(
        cn: &'a str,
        dns: &'a [String],
        ips: &'a [IpAddr],
        emails: &'a [String],
    ) -> Request<'a> {
        Request {
            ca_id: 1,
            certificate_type: "server",
            valid_days: 30,
            common_name: cn,
            dns,
            ips,
            emails,
        }
    }

    #[test]
    fn globs() {
        assert!(glob("*.svc.example.com", "api.svc.example.com", true));
        assert!(!glob("*.svc.example.com", "svc.example.com", true));
        assert!(glob("*.svc.example.com", "API.SVC.example.com", true));
        assert!(!glob("*.svc.example.com", "API.SVC.example.com", false));
        assert!(glob("*.example.com", "a.b.example.com", true));
        assert!(glob("build-?", "build-7", false));
        assert!(!glob("build-?", "build-17", false));
        assert!(glob("node[0-9]", "node4", false));
        assert!(!glob("node[!0-9]", "node4", false));
        // The negation mark is not a member of the class it negates.
        assert!(glob("x[!a]", "x!", false));
        assert!(glob("x[^a]", "x^", false));
        assert!(!glob("x[!a]", "xa", false));
        // Members one by one, `]` first is a member, `-` last is a member, and three
        // characters without a `-` are not a range.
        assert!(glob("x[ab]", "xb", false));
        assert!(glob("x[]a]", "x]", false));
        assert!(glob("x[a-]", "x-", false));
        assert!(!glob("x[azc]", "xb", false));
        // A range holds its two ends and what lies between, nothing else.
        assert!(glob("x[0-3]", "x0", false) && glob("x[0-3]", "x3", false));
        assert!(!glob("x[0-3]", "x5", false));
        assert!(!glob("x[4-6]", "x3", false));
        assert!(glob("*", "", false));
        assert!(!glob("a*b*c", "aXbYd", false));
        assert!(glob("a*b*c", "aXbYc", false));
        // A pathological pattern is answered (backtracking is bounded by one star at a time).
        let long = "a".repeat(5000);
        assert!(!glob(&format!("{}b", "*a".repeat(50)), &long, false));
    }

    #[test]
    fn a_wildcard_name_needs_the_flag_and_a_pattern_star() {
        // The text's `*` is consumed by a pattern `*` only.
        assert!(glob("*.svc.example.com", "*.svc.example.com", true));
        assert!(glob("*.example.com", "*.svc.example.com", true));
        assert!(!glob("?.svc.example.com", "*.svc.example.com", true));
        assert!(!glob("[*a].svc.example.com", "*.svc.example.com", true));
        assert!(!glob("api.svc.example.com", "*.svc.example.com", true));
        // FastPKI's shell meaning stays for ordinary names.
        assert!(glob("*.svc.example.com", "deep.api.svc.example.com", true));

        let mut p = policy();
        let wild = vec!["*.svc.example.com".to_string()];
        assert_eq!(
            evaluate(&p, &req("api.svc.example.com", &wild, &[], &[])),
            Err(violation("allow_wildcards", "*.svc.example.com"))
        );
        assert_eq!(
            evaluate(&p, &req("*.svc.example.com", &[], &[], &[])),
            Err(violation("allow_wildcards", "*.svc.example.com"))
        );
        p.allow_wildcards = true;
        assert_eq!(
            evaluate(&p, &req("api.svc.example.com", &wild, &[], &[])),
            Ok(())
        );
        // Even allowed, a wildcard must sit under a pattern's star.
        p.san_dns_patterns = vec!["api.svc.example.com".into()];
        assert_eq!(
            evaluate(&p, &req("api.svc.example.com", &wild, &[], &[])),
            Err(violation("san_dns_patterns", "*.svc.example.com"))
        );
    }

    #[test]
    fn cidrs() {
        let (n, b) = parse_cidr("10.0.0.0/24").unwrap();
        assert!(in_cidr("10.0.0.255".parse().unwrap(), n, b));
        assert!(!in_cidr("10.0.1.0".parse().unwrap(), n, b));
        let (n, b) = parse_cidr("fd00::/64").unwrap();
        assert!(in_cidr("fd00::1".parse().unwrap(), n, b));
        assert!(!in_cidr("fd00:0:0:1::1".parse().unwrap(), n, b));
        assert!(!in_cidr("10.0.0.1".parse().unwrap(), n, b));
        assert!(parse_cidr("10.0.0.0/33").is_none());
        assert!(parse_cidr("nonsense").is_none());
        assert_eq!(parse_cidr("192.168.1.1").unwrap().1, 32);
    }

    #[test]
    fn allows_inside_and_names_the_first_violation() {
        let p = policy();
        let dns = vec!["api.svc.example.com".to_string()];
        let ips: Vec<IpAddr> = vec!["10.0.0.7".parse().unwrap(), "fd00::9".parse().unwrap()];
        let emails = vec!["ops@example.com".to_string()];
        assert_eq!(
            evaluate(&p, &req("api.svc.example.com", &dns, &ips, &emails)),
            Ok(())
        );

        let bad_dns = vec!["svc.example.com".to_string()];
        assert_eq!(
            evaluate(&p, &req("api.svc.example.com", &bad_dns, &[], &[]))
                .unwrap_err()
                .field,
            "san_dns_patterns"
        );
        let bad_ip: Vec<IpAddr> = vec!["10.0.1.1".parse().unwrap()];
        let v = evaluate(&p, &req("api.svc.example.com", &[], &bad_ip, &[])).unwrap_err();
        assert_eq!(v, violation("san_ip_cidrs", "10.0.1.1"));
        let sub = vec!["ops@mail.example.com".to_string()];
        assert_eq!(
            evaluate(&p, &req("build-1", &[], &[], &sub))
                .unwrap_err()
                .field,
            "san_email_domains"
        );
        assert_eq!(
            evaluate(&p, &req("other.example.com", &[], &[], &[]))
                .unwrap_err()
                .field,
            "cn_patterns"
        );

        let mut r = req("build-1", &[], &[], &[]);
        r.valid_days = 31;
        // Days and CA ids are numbers in the violation, as FastPKI sends them.
        assert_eq!(
            evaluate(&p, &r).unwrap_err(),
            violation("max_validity_days", 31)
        );
        r.valid_days = 30;
        r.ca_id = 2;
        assert_eq!(
            evaluate(&p, &r).unwrap_err(),
            violation("allowed_ca_ids", 2)
        );
        // The type is checked first.
        r.certificate_type = "ca";
        assert_eq!(
            evaluate(&p, &r).unwrap_err(),
            violation("allowed_certificate_types", "ca")
        );
    }

    #[test]
    fn empty_policy_denies_everything() {
        let r = req("x", &[], &[], &[]);
        assert_eq!(
            evaluate(&Policy::default(), &r).unwrap_err().field,
            "allowed_certificate_types"
        );
        let mut p = policy();
        p.cn_patterns.clear();
        assert_eq!(
            evaluate(&p, &req("build-1", &[], &[], &[]))
                .unwrap_err()
                .field,
            "cn_patterns"
        );
    }

    #[test]
    fn validation() {
        assert!(validate(&policy()).is_ok());
        let mut p = policy();
        p.san_ip_cidrs.push("10.0.0.0/40".into());
        assert!(validate(&p).is_err());
        let mut p = policy();
        p.allowed_certificate_types.push("root".into());
        assert!(validate(&p).is_err());
        let mut p = policy();
        p.max_validity_days = Some(0);
        assert!(validate(&p).is_err());
    }

    #[test]
    fn glob_backtracks_and_reads_unclosed_brackets_literally() {
        // The first candidate after a star fails; the matcher must retry one further on.
        assert!(glob("a*bc", "abxbc", false));
        assert!(glob("*b*c", "bbxbc", false));
        assert!(glob("x*y", "xyyy", false));
        assert!(!glob("a*bc", "abxbd", false));
        // A star not at the start of the pattern.
        assert!(glob("ab*", "abcdef", false));
        assert!(!glob("ab*", "acdef", false));
        // `[` without a closing `]` is a literal `[`, and only that.
        assert!(glob("a[b", "a[b", false));
        assert!(!glob("a[b", "axb", false));
        assert!(glob("*[b", "xx[b", false));
    }

    #[test]
    fn patterns_are_1_to_253_characters() {
        let with_cn = |cn: String| Policy {
            cn_patterns: vec![cn],
            ..policy()
        };
        assert!(validate(&with_cn("a".repeat(253))).is_ok());
        assert!(validate(&with_cn("a".repeat(254))).is_err());
        assert!(validate(&with_cn(String::new())).is_err());
        let mut p = policy();
        p.san_email_domains.push("d".repeat(254));
        assert!(validate(&p).is_err());
    }

    #[test]
    fn lists_hold_at_most_1000_entries() {
        let cidrs = |n: usize| Policy {
            san_ip_cidrs: vec!["10.0.0.0/8".into(); n],
            ..policy()
        };
        assert!(validate(&cidrs(1000)).is_ok());
        assert!(validate(&cidrs(1001)).is_err());
        let ca_ids = |n: usize| Policy {
            allowed_ca_ids: vec![1; n],
            ..policy()
        };
        assert!(validate(&ca_ids(1000)).is_ok());
        assert!(validate(&ca_ids(1001)).is_err());
    }
}
