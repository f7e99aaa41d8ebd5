//! `fastpki ca list|show|create|import|csr|install-cert|assign-org|delete|chain|children|private-key`.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::local::KeyAlg;
use super::output::{Fields, Format};
use super::{Ctx, Failure, OutputArg, Res, body, confirm, need, tri};

#[derive(Args, Debug)]
pub struct CaArgs {
    #[command(flatten)]
    output: OutputArg,
    #[command(subcommand)]
    cmd: CaCmd,
}

#[derive(Subcommand, Debug)]
enum CaCmd {
    /// List all certificate authorities.
    List,
    /// Show details of a certificate authority.
    Show {
        /// CA ID
        ca_id: i64,
    },
    /// Create a new certificate authority.
    Create {
        #[arg(short = 'n', long)]
        name: Option<String>,
        /// Subject DN, e.g. "CN=Example Root CA,O=Example,C=US"
        #[arg(short = 's', long)]
        subject_dn: Option<String>,
        #[arg(short = 'd', long)]
        description: Option<String>,
        /// Key algorithm [default: the server's, rsa]
        #[arg(long, value_enum)]
        key_algorithm: Option<KeyAlg>,
        /// RSA key size [default: defaults.ca_key_size, else the server's]
        #[arg(short = 'k', long)]
        key_size: Option<u32>,
        /// Validity in days [default: defaults.ca_valid_days, else the server's]
        #[arg(short = 'v', long)]
        valid_days: Option<u32>,
        /// Parent CA ID for intermediate CA
        #[arg(short = 'p', long = "parent")]
        parent: Option<i64>,
        #[arg(long)]
        path_length: Option<i64>,
        /// Allow this CA to issue leaf certificates
        #[arg(long, overrides_with = "no_allow_leaf_certs")]
        allow_leaf_certs: bool,
        /// Only allow this CA to sign sub-CAs
        #[arg(long)]
        no_allow_leaf_certs: bool,
        #[arg(long)]
        crl_base_url: Option<String>,
        /// Write the new CA's private key to this file (mode 0600) instead of printing it
        #[arg(long, value_name = "FILE")]
        key_out: Option<std::path::PathBuf>,
    },
    /// Import an existing CA (its certificate and private key) made elsewhere.
    Import {
        /// Name of the CA in FastPKI
        #[arg(short = 'n', long)]
        name: Option<String>,
        /// The CA certificate (PEM or DER); further PEM blocks are its chain
        #[arg(long = "cert", value_name = "FILE")]
        cert: std::path::PathBuf,
        /// Its private key: PEM or DER; PKCS#8, encrypted PKCS#8, PKCS#1 or SEC1
        #[arg(long = "key", value_name = "FILE")]
        key: std::path::PathBuf,
        /// The certificates above an intermediate whose issuer is not in FastPKI
        /// (PEM, issuer first)
        #[arg(long, value_name = "FILE", conflicts_with = "parent")]
        chain: Option<std::path::PathBuf>,
        /// The FastPKI CA that signed this intermediate
        #[arg(short = 'p', long = "parent")]
        parent: Option<i64>,
        /// A file holding the passphrase of an encrypted key (else asked on a terminal)
        #[arg(long, value_name = "FILE", env = "FASTPKI_KEY_PASSPHRASE_FILE")]
        passphrase_file: Option<std::path::PathBuf>,
        #[arg(short = 'd', long)]
        description: Option<String>,
        /// Allow this CA to issue leaf certificates
        #[arg(long, overrides_with = "no_allow_leaf_certs")]
        allow_leaf_certs: bool,
        /// Only allow this CA to sign sub-CAs
        #[arg(long)]
        no_allow_leaf_certs: bool,
        #[arg(long)]
        crl_base_url: Option<String>,
        /// Number of the first CRL FastPKI signs (above the CA's last one) [default: 1]
        #[arg(long)]
        first_crl_number: Option<i64>,
    },
    /// Make a CSR whose key stays in FastPKI, for a CA outside FastPKI to sign: without
    /// CA_ID, for a new (pending) CA; with CA_ID, for that CA's key, or with --new-key a
    /// pending CA with a new key for its subject. Install the signed certificate with
    /// `ca install-cert`.
    Csr {
        /// The CA (omit for a new pending CA)
        ca_id: Option<i64>,
        /// With CA_ID: a new pending CA with a new key (rotation)
        #[arg(long, requires = "ca_id")]
        new_key: bool,
        /// Name of the new pending CA
        #[arg(short = 'n', long)]
        name: Option<String>,
        /// Subject DN of the new pending CA (without CA_ID)
        #[arg(short = 's', long, conflicts_with = "ca_id")]
        subject_dn: Option<String>,
        #[arg(short = 'd', long)]
        description: Option<String>,
        /// Key algorithm of the new key [default: rsa, or the CA's]
        #[arg(long, value_enum)]
        key_algorithm: Option<KeyAlg>,
        /// RSA key size of the new key
        #[arg(short = 'k', long)]
        key_size: Option<u32>,
        /// The pathLenConstraint to ask for
        #[arg(long)]
        path_length: Option<i64>,
        /// Write the CSR to this file instead of printing it
        #[arg(long, value_name = "FILE")]
        csr_out: Option<std::path::PathBuf>,
    },
    /// Install a CA certificate signed outside FastPKI for a CA's key.
    InstallCert {
        /// CA ID
        ca_id: i64,
        /// The signed certificate (PEM or DER); further PEM blocks are its chain
        #[arg(long = "cert", value_name = "FILE")]
        cert: std::path::PathBuf,
        /// The certificates above it, when its issuer is not in FastPKI (PEM, issuer first)
        #[arg(long, value_name = "FILE", conflicts_with = "parent")]
        chain: Option<std::path::PathBuf>,
        /// The FastPKI CA that signed it
        #[arg(short = 'p', long = "parent")]
        parent: Option<i64>,
    },
    /// Assign a CA to an organization (superuser only).
    AssignOrg {
        /// CA ID
        ca_id: i64,
        /// Organization ID to assign the CA to
        // `-o` is `--org` here, as in the Python client. This command's own `--output` (same
        // id as the group's global one) keeps the global from being copied in with its `-o`.
        #[arg(short = 'o', long = "org", value_name = "ORG")]
        organization_id: i64,
        /// Also adopt org-less descendant CAs and their issued certificates
        #[arg(long)]
        cascade: bool,
        /// Output format: table or json [default: defaults.output_format, else table]
        #[arg(long = "output", value_enum)]
        output: Option<Format>,
    },
    /// Delete a certificate authority (and its certificates).
    Delete {
        /// CA ID
        ca_id: i64,
        /// Skip confirmation
        #[arg(short = 'f', long)]
        force: bool,
    },
    /// Show the certificate chain from CA to root.
    Chain {
        /// CA ID
        ca_id: i64,
    },
    /// List direct child CAs.
    Children {
        /// CA ID
        ca_id: i64,
    },
    /// Show CA details including private key.
    PrivateKey {
        /// CA ID
        ca_id: i64,
        /// Write the private key to this file (mode 0600) instead of printing it
        #[arg(long, value_name = "FILE")]
        key_out: Option<std::path::PathBuf>,
    },
}

const LIST: Fields<'static> = &[
    ("ID", "id"),
    ("Name", "name"),
    ("Subject DN", "subject_dn"),
    ("Key Size", "key_size"),
    ("Valid Days", "valid_days"),
    ("Parent", "parent_ca_id"),
    ("Root", "is_root"),
];

const DETAIL: Fields<'static> = &[
    ("ID", "id"),
    ("Name", "name"),
    ("Description", "description"),
    ("Subject DN", "subject_dn"),
    ("Key Algorithm", "key_algorithm"),
    ("Key Size", "key_size"),
    ("Valid Days", "valid_days"),
    ("Root", "is_root"),
    ("Parent CA", "parent_ca_id"),
    ("Path Length", "path_length"),
    ("Allow Leaf Certs", "allow_leaf_certs"),
    ("Pending", "pending"),
    ("CRL Base URL", "crl_base_url"),
    ("Organization", "organization_id"),
    ("Created By", "created_by_user_id"),
    ("Created At", "created_at"),
    ("Updated At", "updated_at"),
];

/// DETAIL plus the certificate.
fn with_cert() -> Vec<(&'static str, &'static str)> {
    let mut f = DETAIL.to_vec();
    f.push(("Certificate", "certificate"));
    f
}

/// DETAIL plus the PEMs; the key only when it is not being written to a file.
pub fn with_pems(key_to_file: bool) -> Vec<(&'static str, &'static str)> {
    let mut f = DETAIL.to_vec();
    f.push(("Certificate", "certificate"));
    if !key_to_file {
        f.push(("Private Key", "private_key"));
    }
    f
}

/// Writes `private_key` of `data` to `path` (0600) and drops it from `data`.
pub fn take_key(data: &mut Value, path: Option<&std::path::Path>) -> Res<()> {
    let Some(path) = path else { return Ok(()) };
    let key = data
        .get("private_key")
        .and_then(Value::as_str)
        .map(str::to_string);
    match key {
        Some(k) => {
            super::write_file(path, k.as_bytes(), true)?;
            if let Some(o) = data.as_object_mut() {
                o.remove("private_key");
            }
            eprintln!("Private key saved to {} (mode 0600)", path.display());
            Ok(())
        }
        None => Err(super::Failure::Other(
            "the server returned no private key".into(),
        )),
    }
}

/// A certificate or key file as a JSON string: PEM as it is, anything else (DER) as base64.
fn file_field(path: &std::path::Path) -> Res<String> {
    let data = std::fs::read(path)
        .map_err(|e| Failure::Other(format!("cannot read {}: {e}", path.display())))?;
    if data.windows(10).any(|w| w == b"-----BEGIN") {
        return String::from_utf8(data)
            .map_err(|_| Failure::Other(format!("{} is PEM but not text", path.display())));
    }
    use base64::Engine as _;
    Ok(base64::engine::general_purpose::STANDARD.encode(data))
}

/// The passphrase of an encrypted key: from the file, else asked on a terminal when the
/// key is encrypted PEM (`ENCRYPTED PRIVATE KEY`, or `Proc-Type: 4,ENCRYPTED`), else none.
fn passphrase(file: Option<&std::path::Path>, key_field: &str) -> Res<Option<String>> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::Other(format!("cannot read {}: {e}", path.display())))?;
        return Ok(Some(text.trim_end_matches(['\r', '\n']).to_string()));
    }
    if key_field.contains("ENCRYPTED PRIVATE KEY") || key_field.contains("Proc-Type: 4,ENCRYPTED") {
        use std::io::IsTerminal as _;
        if !std::io::stdin().is_terminal() {
            return Err(Failure::Usage(
                "the key is encrypted: give --passphrase-file".into(),
            ));
        }
        return Ok(Some(rpassword::prompt_password("Passphrase of the key: ")?));
    }
    Ok(None)
}

/// "Issuing X (the server is generating a 4096-bit key)".
pub fn with_spinner_msg(
    action: &str,
    alg: Option<KeyAlg>,
    key_size: Option<u32>,
    server_key: bool,
) -> String {
    match (server_key, alg, key_size) {
        (false, ..) => action.to_string(),
        (true, Some(a), _) if a != KeyAlg::Rsa => {
            format!("{action} (the server is generating an {} key)", a.name())
        }
        (true, _, Some(bits)) => format!("{action} (the server is generating a {bits}-bit key)"),
        (true, ..) => format!("{action} (the server is generating the key)"),
    }
}

/// The key size to send: the flag, else the configured default; RSA only (the server
/// sizes elliptic-curve keys by their curve), so `-k` with another algorithm is refused.
pub fn key_size_for(
    alg: Option<KeyAlg>,
    flag: Option<u32>,
    default: impl FnOnce() -> Option<u32>,
) -> Res<Option<u32>> {
    match alg {
        None | Some(KeyAlg::Rsa) => Ok(flag.or_else(default)),
        Some(a) if flag.is_some() => Err(Failure::Usage(format!(
            "--key-size applies to RSA keys only, not --key-algorithm {}",
            a.name()
        ))),
        Some(_) => Ok(None),
    }
}

pub fn run(a: CaArgs) -> Res<()> {
    let mut output = a.output.clone();
    if let CaCmd::AssignOrg {
        output: Some(f), ..
    } = &a.cmd
    {
        output.output = Some(*f);
    }
    let mut ctx = Ctx::new(&output)?;
    match a.cmd {
        CaCmd::List => {
            let data = ctx.api.get("/cas/", &[])?;
            ctx.out.list(&data, LIST, "Certificate Authorities");
        }
        CaCmd::Show { ca_id } => {
            let data = ctx.api.get(&format!("/cas/{ca_id}"), &[])?;
            ctx.out.detail(&data, DETAIL, &format!("CA #{ca_id}"));
        }
        CaCmd::Create {
            name,
            subject_dn,
            description,
            key_algorithm,
            key_size,
            valid_days,
            parent,
            path_length,
            allow_leaf_certs,
            no_allow_leaf_certs,
            crl_base_url,
            key_out,
        } => {
            let name = need(name, "--name", "Name")?;
            let subject_dn = need(subject_dn, "--subject-dn", "Subject dn")?;
            let cfg = ctx.api.config();
            let key_size = key_size_for(key_algorithm, key_size, || {
                cfg.get_u32("defaults.ca_key_size")
            })?;
            let valid_days = valid_days.or_else(|| cfg.get_u32("defaults.ca_valid_days"));
            let payload = body(vec![
                ("name", Some(json!(name))),
                ("subject_dn", Some(json!(subject_dn))),
                ("description", description.map(Value::from)),
                ("key_algorithm", key_algorithm.map(|a| json!(a.name()))),
                ("key_size", key_size.map(Value::from)),
                ("valid_days", valid_days.map(Value::from)),
                ("parent_ca_id", parent.map(Value::from)),
                ("path_length", path_length.map(Value::from)),
                (
                    "allow_leaf_certs",
                    tri(allow_leaf_certs, no_allow_leaf_certs).map(Value::from),
                ),
                ("crl_base_url", crl_base_url.map(Value::from)),
            ]);
            let what = with_spinner_msg(
                &format!("Creating CA {name:?}"),
                key_algorithm,
                key_size,
                true,
            );
            let mut data = super::local::with_spinner(&what, || ctx.api.post("/cas/", payload))?;
            take_key(&mut data, key_out.as_deref())?;
            ctx.out
                .detail(&data, &with_pems(key_out.is_some()), "CA Created");
        }
        CaCmd::Import {
            name,
            cert,
            key,
            chain,
            parent,
            passphrase_file,
            description,
            allow_leaf_certs,
            no_allow_leaf_certs,
            crl_base_url,
            first_crl_number,
        } => {
            let name = need(name, "--name", "Name")?;
            let certificate = file_field(&cert)?;
            let private_key = file_field(&key)?;
            let chain = chain.as_deref().map(file_field).transpose()?;
            let passphrase = passphrase(passphrase_file.as_deref(), &private_key)?;
            let payload = body(vec![
                ("name", Some(json!(name))),
                ("certificate", Some(json!(certificate))),
                ("private_key", Some(json!(private_key))),
                ("passphrase", passphrase.map(Value::from)),
                ("chain", chain.map(Value::from)),
                ("parent_ca_id", parent.map(Value::from)),
                ("description", description.map(Value::from)),
                (
                    "allow_leaf_certs",
                    tri(allow_leaf_certs, no_allow_leaf_certs).map(Value::from),
                ),
                ("crl_base_url", crl_base_url.map(Value::from)),
                ("first_crl_number", first_crl_number.map(Value::from)),
            ]);
            let data = ctx.api.post("/cas/import", payload)?;
            ctx.out.detail(&data, &with_cert(), "CA Imported");
        }
        CaCmd::Csr {
            ca_id,
            new_key,
            name,
            subject_dn,
            description,
            key_algorithm,
            key_size,
            path_length,
            csr_out,
        } => {
            let key_size = key_size_for(key_algorithm, key_size, || None)?;
            let mut data = match ca_id {
                None => {
                    let name = need(name, "--name", "Name")?;
                    let subject_dn = need(subject_dn, "--subject-dn", "Subject dn")?;
                    let payload = body(vec![
                        ("name", Some(json!(name))),
                        ("subject_dn", Some(json!(subject_dn))),
                        ("description", description.map(Value::from)),
                        ("key_algorithm", key_algorithm.map(|a| json!(a.name()))),
                        ("key_size", key_size.map(Value::from)),
                        ("path_length", path_length.map(Value::from)),
                    ]);
                    let what = with_spinner_msg(
                        "Making the CA's key and CSR",
                        key_algorithm,
                        key_size,
                        true,
                    );
                    super::local::with_spinner(&what, || ctx.api.post("/cas/csr", payload))?
                }
                Some(id) => {
                    if !new_key
                        && (name.is_some()
                            || description.is_some()
                            || key_algorithm.is_some()
                            || key_size.is_some())
                    {
                        return Err(Failure::Usage(
                            "--name, --description, --key-algorithm and --key-size need --new-key"
                                .into(),
                        ));
                    }
                    let payload = body(vec![
                        ("new_key", new_key.then_some(json!(true))),
                        ("name", name.map(Value::from)),
                        ("description", description.map(Value::from)),
                        ("key_algorithm", key_algorithm.map(|a| json!(a.name()))),
                        ("key_size", key_size.map(Value::from)),
                        ("path_length", path_length.map(Value::from)),
                    ]);
                    ctx.api.post(&format!("/cas/{id}/csr"), payload)?
                }
            };
            if let Some(path) = csr_out.as_deref() {
                let csr = data
                    .get("csr")
                    .and_then(Value::as_str)
                    .ok_or_else(|| Failure::Other("the server returned no CSR".into()))?
                    .to_string();
                super::write_file(path, csr.as_bytes(), false)?;
                if let Some(o) = data.as_object_mut() {
                    o.remove("csr");
                }
                eprintln!("CSR saved to {}", path.display());
            }
            let mut fields = DETAIL.to_vec();
            if csr_out.is_none() {
                fields.push(("CSR", "csr"));
            }
            let id = data["id"].as_i64().unwrap_or_default();
            ctx.out.detail(&data, &fields, &format!("CA #{id}"));
        }
        CaCmd::InstallCert {
            ca_id,
            cert,
            chain,
            parent,
        } => {
            let payload = body(vec![
                ("certificate", Some(json!(file_field(&cert)?))),
                (
                    "chain",
                    chain
                        .as_deref()
                        .map(file_field)
                        .transpose()?
                        .map(Value::from),
                ),
                ("parent_ca_id", parent.map(Value::from)),
            ]);
            let data = ctx.api.put(&format!("/cas/{ca_id}/certificate"), payload)?;
            ctx.out.detail(
                &data,
                &with_cert(),
                &format!("CA #{ca_id}: certificate installed"),
            );
        }
        CaCmd::AssignOrg {
            ca_id,
            organization_id,
            cascade,
            output: _,
        } => {
            // As FastPKI's client: `cascade` is sent only when asked for.
            let mut payload = json!({"organization_id": organization_id});
            if cascade {
                payload["cascade"] = json!(true);
            }
            let data = ctx.api.patch(&format!("/cas/{ca_id}"), payload)?;
            ctx.out.detail(&data, DETAIL, &format!("CA #{ca_id}"));
        }
        CaCmd::Delete { ca_id, force } => {
            confirm(
                force,
                &format!("Delete CA #{ca_id}? This also deletes all its certificates."),
            )?;
            ctx.api.delete(&format!("/cas/{ca_id}"))?;
            ctx.out.done(
                &format!("CA #{ca_id} deleted."),
                json!({"id": ca_id, "deleted": true}),
            );
        }
        CaCmd::Chain { ca_id } => {
            let data = ctx.api.get(&format!("/cas/{ca_id}/chain"), &[])?;
            ctx.out.list(&data, LIST, &format!("Chain for CA #{ca_id}"));
        }
        CaCmd::Children { ca_id } => {
            let data = ctx.api.get(&format!("/cas/{ca_id}/children"), &[])?;
            ctx.out
                .list(&data, LIST, &format!("Children of CA #{ca_id}"));
        }
        CaCmd::PrivateKey { ca_id, key_out } => {
            let mut data = ctx.api.get(&format!("/cas/{ca_id}/private-key"), &[])?;
            take_key(&mut data, key_out.as_deref())?;
            ctx.out.detail(
                &data,
                &with_pems(key_out.is_some()),
                &format!("CA #{ca_id} (with private key)"),
            );
        }
    }
    Ok(())
}
