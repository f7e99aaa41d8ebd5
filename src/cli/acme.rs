//! `fastpki acme directory create|list|show|update|delete` and
//! `fastpki acme eab create|list|revoke`: the admin side of the ACME server.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::output::Fields;
use super::{Ctx, Failure, OutputArg, Res, body, confirm, need, tri};

const BASE: &str = "/acme-directories";

#[derive(Args, Debug)]
pub struct AcmeArgs {
    #[command(flatten)]
    output: OutputArg,
    #[command(subcommand)]
    cmd: AcmeCmd,
}

#[derive(Subcommand, Debug)]
enum AcmeCmd {
    /// Manage ACME directories (one CA issuing as one service account)
    #[command(subcommand)]
    Directory(DirCmd),
    /// Manage external account binding (EAB) keys of a directory
    #[command(subcommand)]
    Eab(EabCmd),
}

#[derive(Subcommand, Debug)]
enum DirCmd {
    /// Create an ACME directory.
    Create {
        /// 1-63 of a-z, 0-9 and '-': the directory is /acme/NAME/directory
        #[arg(short = 'n', long)]
        name: Option<String>,
        /// The issuing CA's ID
        #[arg(long)]
        ca: Option<i64>,
        /// The service account certificates are issued as
        #[arg(long)]
        service_account: Option<i64>,
        /// Let ACME clients register without an EAB key
        #[arg(long)]
        no_eab: bool,
        /// http-01, dns-01 or tls-alpn-01 (repeatable) [default: all three]
        #[arg(long = "challenge")]
        challenge: Vec<String>,
        /// server, client or dual_purpose [default: server]
        #[arg(short = 't', long)]
        cert_type: Option<String>,
    },
    /// List ACME directories.
    List,
    /// Show an ACME directory.
    Show {
        /// Directory ID
        dir_id: i64,
    },
    /// Update an ACME directory. Only provided fields change.
    Update {
        /// Directory ID
        dir_id: i64,
        #[arg(short = 'n', long)]
        name: Option<String>,
        #[arg(long)]
        ca: Option<i64>,
        #[arg(long)]
        service_account: Option<i64>,
        /// Require an EAB key to register
        #[arg(long, overrides_with = "no_require_eab")]
        require_eab: bool,
        #[arg(long)]
        no_require_eab: bool,
        /// Replaces the list (repeatable)
        #[arg(long = "challenge")]
        challenge: Vec<String>,
        #[arg(short = 't', long)]
        cert_type: Option<String>,
    },
    /// Delete an ACME directory: its EAB keys and ACME accounts stop working.
    Delete {
        /// Directory ID
        dir_id: i64,
        /// Skip confirmation
        #[arg(short = 'f', long)]
        force: bool,
    },
}

#[derive(Subcommand, Debug)]
enum EabCmd {
    /// Make an EAB key. The HMAC key is shown only once — store it now.
    Create {
        /// Directory ID
        dir_id: i64,
        /// The service account its ACME account issues as [default: the directory's]
        #[arg(long)]
        service_account: Option<i64>,
    },
    /// List a directory's EAB keys (never their HMAC keys).
    List {
        /// Directory ID
        dir_id: i64,
    },
    /// Revoke an EAB key and deactivate the ACME account it registered.
    Revoke {
        /// Directory ID
        dir_id: i64,
        /// Key ID
        kid: String,
        /// Skip confirmation
        #[arg(short = 'f', long)]
        force: bool,
    },
}

const LIST: Fields<'static> = &[
    ("ID", "id"),
    ("Name", "name"),
    ("CA", "ca_id"),
    ("Service Account", "service_account_id"),
    ("Require EAB", "require_eab"),
    ("URL", "url"),
];

const DETAIL: Fields<'static> = &[
    ("ID", "id"),
    ("Name", "name"),
    ("URL", "url"),
    ("CA", "ca_id"),
    ("Organization", "organization_id"),
    ("Service Account", "service_account_id"),
    ("Require EAB", "require_eab"),
    ("Challenge Types", "challenge_types"),
    ("Certificate Type", "certificate_type"),
    ("Created At", "created_at"),
    ("Updated At", "updated_at"),
];

const EAB_LIST: Fields<'static> = &[
    ("Key ID", "kid"),
    ("Service Account", "service_account_id"),
    ("Account", "account_id"),
    ("Bound At", "bound_at"),
    ("Revoked At", "revoked_at"),
    ("Created At", "created_at"),
];

const EAB_DETAIL: Fields<'static> = &[
    ("Key ID", "kid"),
    ("Directory URL", "directory_url"),
    ("Service Account", "service_account_id"),
    ("Created At", "created_at"),
];

fn challenges(list: Vec<String>) -> Option<Value> {
    (!list.is_empty()).then(|| json!(list))
}

pub fn run(a: AcmeArgs) -> Res<()> {
    let mut ctx = Ctx::new(&a.output)?;
    match a.cmd {
        AcmeCmd::Directory(cmd) => directory(&mut ctx, cmd),
        AcmeCmd::Eab(cmd) => eab(&mut ctx, cmd),
    }
}

fn directory(ctx: &mut Ctx, cmd: DirCmd) -> Res<()> {
    match cmd {
        DirCmd::Create {
            name,
            ca,
            service_account,
            no_eab,
            challenge,
            cert_type,
        } => {
            let name: String = need(name, "--name", "Name")?;
            let ca: i64 = need(ca, "--ca", "CA ID")?;
            let sa: i64 = need(service_account, "--service-account", "Service account ID")?;
            let payload = body([
                ("name", Some(json!(name))),
                ("ca_id", Some(json!(ca))),
                ("service_account_id", Some(json!(sa))),
                ("require_eab", Some(json!(!no_eab))),
                ("challenge_types", challenges(challenge)),
                ("certificate_type", cert_type.map(Value::from)),
            ]);
            let data = ctx.api.post(&format!("{BASE}/"), payload)?;
            ctx.out.detail(&data, DETAIL, "ACME Directory Created");
        }
        DirCmd::List => {
            let data = ctx.api.get(&format!("{BASE}/"), &[])?;
            ctx.out.list(&data, LIST, "ACME Directories");
        }
        DirCmd::Show { dir_id } => {
            let data = ctx.api.get(&format!("{BASE}/{dir_id}"), &[])?;
            ctx.out
                .detail(&data, DETAIL, &format!("ACME Directory #{dir_id}"));
        }
        DirCmd::Update {
            dir_id,
            name,
            ca,
            service_account,
            require_eab,
            no_require_eab,
            challenge,
            cert_type,
        } => {
            let payload = body([
                ("name", name.map(Value::from)),
                ("ca_id", ca.map(Value::from)),
                ("service_account_id", service_account.map(Value::from)),
                (
                    "require_eab",
                    tri(require_eab, no_require_eab).map(Value::from),
                ),
                ("challenge_types", challenges(challenge)),
                ("certificate_type", cert_type.map(Value::from)),
            ]);
            if payload.as_object().is_none_or(|o| o.is_empty()) {
                return Err(Failure::Usage("Nothing to update.".into()));
            }
            let data = ctx.api.patch(&format!("{BASE}/{dir_id}"), payload)?;
            ctx.out
                .detail(&data, DETAIL, &format!("ACME Directory #{dir_id} Updated"));
        }
        DirCmd::Delete { dir_id, force } => {
            confirm(
                force,
                &format!("Delete ACME directory #{dir_id}, its EAB keys and ACME accounts?"),
            )?;
            ctx.api.delete(&format!("{BASE}/{dir_id}"))?;
            ctx.out.done(
                &format!("ACME directory #{dir_id} deleted."),
                json!({"id": dir_id, "deleted": true}),
            );
        }
    }
    Ok(())
}

fn eab(ctx: &mut Ctx, cmd: EabCmd) -> Res<()> {
    match cmd {
        EabCmd::Create {
            dir_id,
            service_account,
        } => {
            let payload = body([("service_account_id", service_account.map(Value::from))]);
            let data = ctx
                .api
                .post(&format!("{BASE}/{dir_id}/eab-keys"), payload)?;
            if ctx.out.is_json() {
                ctx.out.json(&data);
                eprintln!("Store this HMAC key now — it will not be shown again.");
                return Ok(());
            }
            // As `service-account token create`: the details, then the secret
            // alone on the last line of stdout; the warning is for people: stderr.
            let key = super::output::text(data.get("hmac_key"));
            ctx.out.detail(&data, EAB_DETAIL, "EAB Key Created");
            eprintln!("\nStore this HMAC key now — it will not be shown again:");
            outln!("{key}");
        }
        EabCmd::List { dir_id } => {
            let data = ctx.api.get(&format!("{BASE}/{dir_id}/eab-keys"), &[])?;
            ctx.out.list(
                &data,
                EAB_LIST,
                &format!("EAB Keys of ACME Directory #{dir_id}"),
            );
        }
        EabCmd::Revoke { dir_id, kid, force } => {
            confirm(
                force,
                &format!("Revoke EAB key {kid} and deactivate its ACME account?"),
            )?;
            ctx.api.delete(&format!("{BASE}/{dir_id}/eab-keys/{kid}"))?;
            ctx.out.done(
                &format!("EAB key {kid} revoked."),
                json!({"kid": kid, "directory_id": dir_id, "revoked": true}),
            );
        }
    }
    Ok(())
}
