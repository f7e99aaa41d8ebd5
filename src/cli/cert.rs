//! `fastpki cert list|show|create|sign-csr|revoke|renew|private-key`, and `inspect` (local).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::ca::{key_size_for, take_key, with_spinner_msg};
use super::local::{self, KeyAlg, SanArgs};
use super::output::{Fields, Out};
use super::{Ctx, Failure, OutputArg, Res, body, confirm, need};

#[derive(Args, Debug)]
pub struct CertArgs {
    #[command(flatten)]
    output: OutputArg,
    #[command(subcommand)]
    cmd: CertCmd,
}

#[derive(Args, Debug, Default)]
struct Sans {
    /// DNS SAN entry (repeatable)
    #[arg(long = "san-dns", value_name = "NAME")]
    dns: Vec<String>,
    /// IP address SAN entry (repeatable)
    #[arg(long = "san-ip", value_name = "IP")]
    ip: Vec<String>,
    /// Email SAN entry (repeatable)
    #[arg(long = "san-email", value_name = "EMAIL")]
    email: Vec<String>,
}

impl Sans {
    fn fields(&self) -> Vec<(&'static str, Option<Value>)> {
        let list = |v: &Vec<String>| (!v.is_empty()).then(|| json!(v));
        vec![
            ("san_dns_names", list(&self.dns)),
            ("san_ip_addresses", list(&self.ip)),
            ("san_email_addresses", list(&self.email)),
        ]
    }
    fn local(&self) -> SanArgs {
        SanArgs {
            dns: self.dns.clone(),
            ips: self.ip.clone(),
            emails: self.email.clone(),
        }
    }
}

/// Local key generation for `sign-csr` and `renew`.
#[derive(Args, Debug)]
struct Generate {
    /// Make the key and the CSR on this machine (the key never leaves it) and submit the CSR
    #[arg(long)]
    generate_key: bool,
    /// Key algorithm for --generate-key
    #[arg(long, value_enum, default_value = "rsa", requires = "generate_key")]
    key_algorithm: KeyAlg,
    /// RSA key size for --generate-key [default: defaults.cert_key_size, else 2048]
    #[arg(short = 'k', long, requires = "generate_key")]
    key_size: Option<u32>,
    /// Where to write the generated private key (mode 0600, never overwritten) [default: <CN>.key]
    #[arg(long, value_name = "FILE", requires = "generate_key")]
    key_out: Option<PathBuf>,
    /// Also save the generated CSR to this file
    #[arg(long, value_name = "FILE", requires = "generate_key")]
    csr_out: Option<PathBuf>,
}

/// The statuses `cert list --status` selects (the server's names).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ListStatus {
    Valid,
    Revoked,
    Expired,
}

#[derive(Subcommand, Debug)]
enum CertCmd {
    /// List certificates.
    List {
        /// Filter by issuing CA
        #[arg(short = 'c', long = "ca")]
        ca_id: Option<i64>,
        #[arg(long, default_value_t = 0)]
        skip: i64,
        /// At most this many (default: every certificate in scope)
        #[arg(long)]
        limit: Option<i64>,
        /// Only certificates still valid that expire within this many days
        /// (with --status, that status instead of valid)
        #[arg(long, value_name = "DAYS")]
        expiring: Option<i64>,
        /// Only certificates of this status
        #[arg(long, value_enum)]
        status: Option<ListStatus>,
    },
    /// Show certificate details.
    Show {
        /// Certificate ID
        cert_id: i64,
    },
    /// Issue a new certificate (the server makes the key).
    Create {
        /// Issuing CA ID
        #[arg(short = 'c', long = "ca")]
        ca_id: Option<i64>,
        /// Common name
        #[arg(short = 'n', long = "cn")]
        common_name: Option<String>,
        /// Subject DN [default: CN=<common name>]
        #[arg(short = 's', long)]
        subject_dn: Option<String>,
        /// Certificate type: server, client, dual_purpose, ca
        #[arg(short = 't', long = "type", default_value = "server")]
        cert_type: String,
        /// Key algorithm of the key the server makes [default: the server's, rsa]
        #[arg(long, value_enum)]
        key_algorithm: Option<KeyAlg>,
        /// RSA key size [default: defaults.cert_key_size, else the server's]
        #[arg(short = 'k', long)]
        key_size: Option<u32>,
        /// Validity in days [default: defaults.cert_valid_days, else the server's]
        #[arg(short = 'v', long)]
        valid_days: Option<u32>,
        /// Don't generate private key
        #[arg(long)]
        no_private_key: bool,
        #[command(flatten)]
        sans: Sans,
        /// Write the private key to this file (mode 0600) instead of printing it
        #[arg(long, value_name = "FILE", conflicts_with = "no_private_key")]
        key_out: Option<PathBuf>,
        /// Also write the certificate PEM to this file
        #[arg(long, value_name = "FILE")]
        cert_out: Option<PathBuf>,
    },
    /// Sign a CSR file (or, with --generate-key, make the key and CSR here first).
    SignCsr {
        /// Path to PEM-encoded CSR file ("-" for standard input)
        #[arg(
            required_unless_present = "generate_key",
            conflicts_with = "generate_key"
        )]
        csr_file: Option<PathBuf>,
        /// Issuing CA ID
        #[arg(short = 'c', long = "ca", conflicts_with = "ca_name")]
        ca_id: Option<i64>,
        /// Issuing CA name
        #[arg(long)]
        ca_name: Option<String>,
        /// Certificate type: server, client, dual_purpose
        #[arg(short = 't', long = "type", default_value = "server")]
        cert_type: String,
        #[arg(short = 'v', long)]
        valid_days: Option<u32>,
        /// Override CN from CSR (with --generate-key: the CN of the request)
        #[arg(short = 'n', long = "cn")]
        common_name: Option<String>,
        /// Override subject (with --generate-key: the subject of the request)
        #[arg(short = 's', long)]
        subject_dn: Option<String>,
        #[command(flatten)]
        sans: Sans,
        #[command(flatten)]
        generate: Generate,
        /// Also write the signed certificate PEM to this file
        #[arg(long, value_name = "FILE")]
        cert_out: Option<PathBuf>,
    },
    /// Revoke a certificate.
    Revoke {
        /// Certificate ID
        cert_id: i64,
        #[arg(short = 'r', long)]
        reason: Option<String>,
        /// Skip confirmation
        #[arg(short = 'f', long)]
        force: bool,
    },
    /// Renew a certificate, inheriting subject/SANs/CA/type from the original.
    ///
    /// Omit --csr for server-key certificates (a fresh key is minted and returned).
    Renew {
        /// Certificate ID to renew
        cert_id: i64,
        /// PEM CSR file (required for CSR-origin certificates)
        #[arg(long, value_name = "FILE", conflicts_with = "generate_key")]
        csr: Option<PathBuf>,
        #[command(flatten)]
        generate: Generate,
        /// Write a server-made private key to this file (mode 0600) instead of printing it
        #[arg(long = "server-key-out", value_name = "FILE", conflicts_with_all = ["generate_key", "csr"])]
        server_key_out: Option<PathBuf>,
        /// Also write the new certificate PEM to this file
        #[arg(long, value_name = "FILE")]
        cert_out: Option<PathBuf>,
    },
    /// Show certificate with private key.
    PrivateKey {
        /// Certificate ID
        cert_id: i64,
        /// Write the private key to this file (mode 0600) instead of printing it
        #[arg(long, value_name = "FILE")]
        key_out: Option<PathBuf>,
    },
    /// Print a certificate, a PEM bundle or a CSR file readably (local, no server call).
    Inspect {
        /// Certificate (PEM or DER), PEM chain, or CSR (PEM)
        file: PathBuf,
    },
}

const LIST: Fields<'static> = &[
    ("ID", "id"),
    ("Common Name", "common_name"),
    ("Type", "certificate_type"),
    ("Status", "status"),
    ("Serial", "serial_number"),
    ("Issuer", "issuer_id"),
    ("Not After", "not_after"),
];

const DETAIL: Fields<'static> = &[
    ("ID", "id"),
    ("Common Name", "common_name"),
    ("Subject DN", "subject_dn"),
    ("Type", "certificate_type"),
    ("Status", "status"),
    ("Serial Number", "serial_number"),
    ("Key Algorithm", "key_algorithm"),
    ("Key Size", "key_size"),
    ("Valid Days", "valid_days"),
    ("Not Before", "not_before"),
    ("Not After", "not_after"),
    ("Revoked At", "revoked_at"),
    ("Issuer CA", "issuer_id"),
    ("Organization", "organization_id"),
    ("Created By", "created_by_user_id"),
    ("Created At", "created_at"),
    ("Updated At", "updated_at"),
];

fn fields(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut f = DETAIL.to_vec();
    f.extend_from_slice(extra);
    f
}

fn read_text(path: &std::path::Path) -> Res<String> {
    if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
        return Ok(s);
    }
    std::fs::read_to_string(path)
        .map_err(|e| Failure::Other(format!("cannot read {}: {e}", path.display())))
}

fn save_cert(data: &Value, path: Option<&std::path::Path>) -> Res<()> {
    let Some(path) = path else { return Ok(()) };
    let pem = data
        .get("certificate")
        .and_then(Value::as_str)
        .ok_or_else(|| Failure::Other("the server returned no certificate".into()))?;
    super::write_file(path, pem.as_bytes(), false)?;
    eprintln!("Certificate saved to {}", path.display());
    Ok(())
}

/// Makes a key and a CSR here; writes the key (0600) before anything is sent.
fn generate_csr(
    g: &Generate,
    cfg: &super::config::Config,
    subject_dn: &str,
    key_name: &str,
    sans: &SanArgs,
) -> Res<String> {
    let bits = g
        .key_size
        .or_else(|| cfg.get_u32("defaults.cert_key_size"))
        .unwrap_or(2048);
    let key_path = g
        .key_out
        .clone()
        .unwrap_or_else(|| local::default_key_path(key_name));
    // Refuse early, before a slow key generation, when the key file exists.
    if key_path.exists() {
        return Err(Failure::Usage(format!(
            "{} already exists; refusing to overwrite a private key",
            key_path.display()
        )));
    }
    let key = local::generate_key(g.key_algorithm, bits)?;
    let csr = local::build_csr(&key, subject_dn, sans)?;
    local::write_new_key(&key_path, &key.to_pem())?;
    eprintln!("Private key written to {} (mode 0600)", key_path.display());
    if let Some(p) = &g.csr_out {
        super::write_file(p, csr.as_bytes(), false)?;
        eprintln!("CSR written to {}", p.display());
    }
    Ok(csr)
}

fn escape_dn_value(v: &str) -> String {
    v.replace('\\', "\\\\").replace(',', "\\,")
}

pub fn run(a: CertArgs) -> Res<()> {
    if let CertCmd::Inspect { file } = &a.cmd {
        let cfg = super::config::Config::load()?;
        let out = Out::new(a.output.output, &cfg)?;
        return inspect(&out, file);
    }
    let mut ctx = Ctx::new(&a.output)?;
    match a.cmd {
        CertCmd::Inspect { .. } => unreachable!("handled above"),
        CertCmd::List {
            ca_id,
            skip,
            limit,
            expiring,
            status,
        } => {
            let mut q = vec![("skip", skip.to_string())];
            if let Some(limit) = limit {
                q.push(("limit", limit.to_string()));
            }
            if let Some(c) = ca_id {
                q.push(("ca_id", c.to_string()));
            }
            if let Some(days) = expiring {
                q.push(("expiring_within_days", days.to_string()));
            }
            // Expiring soon means still valid, unless a status is asked for.
            let status = status.or(expiring.map(|_| ListStatus::Valid));
            if let Some(s) = status {
                let name = match s {
                    ListStatus::Valid => "valid",
                    ListStatus::Revoked => "revoked",
                    ListStatus::Expired => "expired",
                };
                q.push(("status", name.to_string()));
            }
            let data = ctx.api.get("/certificates/", &q)?;
            ctx.out.list(&data, LIST, "Certificates");
        }
        CertCmd::Show { cert_id } => {
            let data = ctx.api.get(&format!("/certificates/{cert_id}"), &[])?;
            ctx.out
                .detail(&data, DETAIL, &format!("Certificate #{cert_id}"));
        }
        CertCmd::Create {
            ca_id,
            common_name,
            subject_dn,
            cert_type,
            key_algorithm,
            key_size,
            valid_days,
            no_private_key,
            sans,
            key_out,
            cert_out,
        } => {
            let ca_id: i64 = need(ca_id, "--ca", "Ca id")?;
            let cn: String = need(common_name, "--cn", "Common name")?;
            let subject_dn = subject_dn.unwrap_or_else(|| format!("CN={}", escape_dn_value(&cn)));
            let cfg = ctx.api.config();
            let key_size = key_size_for(key_algorithm, key_size, || {
                cfg.get_u32("defaults.cert_key_size")
            })?;
            let valid_days = valid_days.or_else(|| cfg.get_u32("defaults.cert_valid_days"));
            let mut pairs = vec![
                ("common_name", Some(json!(cn))),
                ("subject_dn", Some(json!(subject_dn))),
                ("certificate_type", Some(json!(cert_type))),
                ("include_private_key", Some(json!(!no_private_key))),
                ("key_algorithm", key_algorithm.map(|a| json!(a.name()))),
                ("key_size", key_size.map(Value::from)),
                ("valid_days", valid_days.map(Value::from)),
            ];
            pairs.extend(sans.fields());
            let q = [("ca_id", ca_id.to_string())];
            let msg = with_spinner_msg(
                &format!("Issuing {cn:?}"),
                key_algorithm,
                key_size,
                !no_private_key,
            );
            let mut data = local::with_spinner(&msg, || {
                ctx.api.post_query("/certificates/", &q, body(pairs))
            })?;
            take_key(&mut data, key_out.as_deref())?;
            save_cert(&data, cert_out.as_deref())?;
            let mut f = fields(&[("Certificate", "certificate")]);
            if !no_private_key && key_out.is_none() {
                f.push(("Private Key", "private_key"));
            }
            ctx.out.detail(&data, &f, "Certificate Created");
        }
        CertCmd::SignCsr {
            csr_file,
            ca_id,
            ca_name,
            cert_type,
            valid_days,
            common_name,
            subject_dn,
            sans,
            generate,
            cert_out,
        } => {
            if ca_id.is_none() && ca_name.is_none() {
                return Err(Failure::Usage("provide --ca or --ca-name".into()));
            }
            let mut pairs = vec![
                ("certificate_type", Some(json!(cert_type))),
                ("ca_id", ca_id.map(Value::from)),
                ("ca_name", ca_name.map(Value::from)),
                ("valid_days", valid_days.map(Value::from)),
            ];
            let csr = if generate.generate_key {
                // The request carries the subject and SANs: nothing to override.
                let subject = match (&subject_dn, &common_name) {
                    (Some(s), _) => s.clone(),
                    (None, Some(cn)) => format!("CN={}", escape_dn_value(cn)),
                    (None, None) => {
                        return Err(Failure::Usage(
                            "--generate-key needs --cn or --subject-dn".into(),
                        ));
                    }
                };
                let key_name = common_name.clone().unwrap_or_else(|| {
                    pki::parse_dn(&subject)
                        .ok()
                        .and_then(|d| d.common_name().map(str::to_string))
                        .unwrap_or_else(|| "private".into())
                });
                generate_csr(
                    &generate,
                    ctx.api.config(),
                    &subject,
                    &key_name,
                    &sans.local(),
                )?
            } else {
                pairs.push(("common_name", common_name.map(Value::from)));
                pairs.push(("subject_dn", subject_dn.map(Value::from)));
                pairs.extend(sans.fields());
                let path = csr_file.ok_or_else(|| Failure::Usage("missing CSR_FILE".into()))?;
                read_text(&path)?
            };
            pairs.push(("csr", Some(json!(csr))));
            let data = ctx.api.post("/certificates/sign-csr", body(pairs))?;
            save_cert(&data, cert_out.as_deref())?;
            ctx.out.detail(
                &data,
                &fields(&[("Certificate", "certificate")]),
                "CSR Signed",
            );
        }
        CertCmd::Revoke {
            cert_id,
            reason,
            force,
        } => {
            confirm(force, &format!("Revoke certificate #{cert_id}?"))?;
            let payload = body(vec![("reason", reason.map(Value::from))]);
            let data = ctx
                .api
                .post(&format!("/certificates/{cert_id}/revoke"), payload)?;
            ctx.out
                .detail(&data, DETAIL, &format!("Certificate #{cert_id} Revoked"));
        }
        CertCmd::Renew {
            cert_id,
            csr,
            generate,
            server_key_out,
            cert_out,
        } => {
            let csr = match (csr, generate.generate_key) {
                (Some(path), _) => Some(read_text(&path)?),
                (None, true) => {
                    // The server keeps the old subject and SANs; the request only carries the key.
                    let old = ctx.api.get(&format!("/certificates/{cert_id}"), &[])?;
                    let cn = old
                        .get("common_name")
                        .and_then(Value::as_str)
                        .unwrap_or("renewal")
                        .to_string();
                    let subject = format!("CN={}", escape_dn_value(&cn));
                    Some(generate_csr(
                        &generate,
                        ctx.api.config(),
                        &subject,
                        &cn,
                        &SanArgs::default(),
                    )?)
                }
                (None, false) => None,
            };
            let payload = body(vec![("csr", csr.clone().map(Value::from))]);
            let msg = format!("Renewing certificate #{cert_id}");
            let mut data = local::with_spinner(&msg, || {
                ctx.api
                    .post(&format!("/certificates/{cert_id}/renew"), payload)
            })?;
            let has_key = data
                .get("private_key")
                .and_then(Value::as_str)
                .is_some_and(|k| !k.is_empty());
            if has_key {
                take_key(&mut data, server_key_out.as_deref())?;
            }
            save_cert(&data, cert_out.as_deref())?;
            let mut f = fields(&[("Renewed From", "renewed_from_id")]);
            if has_key && server_key_out.is_none() {
                f.push(("Private Key", "private_key"));
            }
            ctx.out
                .detail(&data, &f, &format!("Certificate renewed from #{cert_id}"));
        }
        CertCmd::PrivateKey { cert_id, key_out } => {
            let mut data = ctx
                .api
                .get(&format!("/certificates/{cert_id}/private-key"), &[])?;
            take_key(&mut data, key_out.as_deref())?;
            let mut f = fields(&[("Certificate", "certificate")]);
            if key_out.is_none() {
                f.push(("Private Key", "private_key"));
            }
            ctx.out.detail(
                &data,
                &f,
                &format!("Certificate #{cert_id} (with private key)"),
            );
        }
    }
    Ok(())
}

const INSPECT_CERT: Fields<'static> = &[
    ("Subject", "subject"),
    ("Issuer", "issuer"),
    ("Serial Number", "serial_number"),
    ("Not Before", "not_before"),
    ("Not After", "not_after"),
    ("Validity", "validity"),
    ("Days Left", "days_left"),
    ("CA", "is_ca"),
    ("Path Length", "path_length"),
    ("Self-Issued", "self_issued"),
    ("Key Algorithm", "key_algorithm"),
    ("Key Size", "key_size"),
    ("SAN DNS", "san_dns"),
    ("SAN IP", "san_ip"),
    ("SAN Email", "san_email"),
    ("Subject Key ID", "subject_key_id"),
    ("Authority Key ID", "authority_key_id"),
    ("SHA-256 Fingerprint", "sha256_fingerprint"),
];

const INSPECT_CSR: Fields<'static> = &[
    ("Subject", "subject"),
    ("Common Name", "common_name"),
    ("Key Algorithm", "key_algorithm"),
    ("Key Size", "key_size"),
    ("SAN DNS", "san_dns"),
    ("SAN IP", "san_ip"),
    ("SAN Email", "san_email"),
    ("Signature Valid", "signature_valid"),
];

fn inspect(out: &Out, file: &std::path::Path) -> Res<()> {
    let items = local::inspect_file(file)?;
    if out.is_json() {
        out.json(&if items.len() == 1 {
            items[0].clone()
        } else {
            Value::Array(items)
        });
        return Ok(());
    }
    let count = items.len();
    for (i, mut item) in items.into_iter().enumerate() {
        // Flatten the SANs for the table.
        let sans = item.get("subject_alt_names").cloned().unwrap_or_default();
        if let Some(o) = item.as_object_mut() {
            for (k, src) in [("san_dns", "dns"), ("san_ip", "ip"), ("san_email", "email")] {
                o.insert(k.into(), sans.get(src).cloned().unwrap_or_default());
            }
        }
        let is_csr = item.get("type").and_then(Value::as_str) == Some("certificate request");
        let title = match (is_csr, count) {
            (true, _) => format!("Certificate request {}", file.display()),
            (false, 1) => format!("Certificate {}", file.display()),
            (false, n) => format!("Certificate {} of {n} in {}", i + 1, file.display()),
        };
        if i > 0 {
            outln!();
        }
        out.detail(
            &item,
            if is_csr { INSPECT_CSR } else { INSPECT_CERT },
            &title,
        );
    }
    Ok(())
}
