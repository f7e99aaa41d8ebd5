//! `fastpki ca list|show|create|assign-org|delete|chain|children|private-key`.

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
    ("CRL Base URL", "crl_base_url"),
    ("Organization", "organization_id"),
    ("Created By", "created_by_user_id"),
    ("Created At", "created_at"),
    ("Updated At", "updated_at"),
];

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
