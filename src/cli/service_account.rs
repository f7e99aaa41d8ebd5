//! `fastpki service-account list|show|create|update|delete`, `token create|list|revoke`,
//! `policy set|show|clear`.

use clap::{Args, Subcommand};
use fastpki::capability_fields;
use serde_json::{Value, json};

use super::output::Fields;
use super::{Ctx, Failure, OutputArg, Res, body, capability_pairs, confirm, need, tri};

const BASE: &str = "/service-accounts";

#[derive(Args, Debug)]
pub struct SaArgs {
    #[command(flatten)]
    output: OutputArg,
    #[command(subcommand)]
    cmd: SaCmd,
}

#[derive(Subcommand, Debug)]
enum SaCmd {
    /// List service accounts in your organization.
    List,
    /// Show service account details.
    Show {
        /// Service account ID
        sa_id: i64,
    },
    /// Create a service account.
    Create(CreateArgs),
    /// Update a service account. Only provided fields change.
    Update {
        /// Service account ID
        sa_id: i64,
        #[arg(short = 'n', long)]
        name: Option<String>,
        #[arg(short = 'd', long)]
        description: Option<String>,
        /// Disable the account
        #[arg(long, overrides_with = "enable")]
        disable: bool,
        /// Enable the account
        #[arg(long)]
        enable: bool,
        #[arg(long, overrides_with = "no_can_create_ca")]
        can_create_ca: bool,
        #[arg(long)]
        no_can_create_ca: bool,
        #[arg(long, overrides_with = "no_can_create_cert")]
        can_create_cert: bool,
        #[arg(long)]
        no_can_create_cert: bool,
        #[arg(long, overrides_with = "no_can_revoke_cert")]
        can_revoke_cert: bool,
        #[arg(long)]
        no_can_revoke_cert: bool,
        #[arg(long, overrides_with = "no_can_export_private_key")]
        can_export_private_key: bool,
        #[arg(long)]
        no_can_export_private_key: bool,
        #[arg(long, overrides_with = "no_can_delete_ca")]
        can_delete_ca: bool,
        #[arg(long)]
        no_can_delete_ca: bool,
    },
    /// Delete a service account and all of its tokens.
    Delete {
        /// Service account ID
        sa_id: i64,
        /// Skip confirmation
        #[arg(short = 'f', long)]
        force: bool,
    },
    /// Manage service-account tokens
    #[command(subcommand)]
    Token(TokenCmd),
    /// Manage issuance policies
    #[command(subcommand)]
    Policy(PolicyCmd),
}

#[derive(Subcommand, Debug)]
enum TokenCmd {
    /// Mint a token. The plaintext is shown only once — store it now.
    Create {
        /// Service account ID
        sa_id: i64,
        /// Token label
        #[arg(short = 'n', long)]
        name: Option<String>,
        /// ISO-8601 expiry, e.g. 2027-01-01T00:00:00Z
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// List tokens for a service account (metadata only).
    List {
        /// Service account ID
        sa_id: i64,
    },
    /// Revoke a service-account token.
    Revoke {
        /// Service account ID
        sa_id: i64,
        /// Token ID
        token_id: i64,
        /// Skip confirmation
        #[arg(short = 'f', long)]
        force: bool,
    },
}

#[derive(Subcommand, Debug)]
enum PolicyCmd {
    /// Create or replace the issuance policy (deny-by-default allowlist).
    Set {
        /// Service account ID
        sa_id: i64,
        #[arg(long)]
        max_validity_days: i64,
        /// Repeatable
        #[arg(long = "cn-pattern")]
        cn_pattern: Vec<String>,
        /// Repeatable
        #[arg(long = "san-dns-pattern")]
        san_dns_pattern: Vec<String>,
        /// Repeatable
        #[arg(long = "san-ip-cidr")]
        san_ip_cidr: Vec<String>,
        /// Repeatable
        #[arg(long = "san-email-domain")]
        san_email_domain: Vec<String>,
        /// Repeatable
        #[arg(long = "allowed-ca-id")]
        allowed_ca_id: Vec<i64>,
        /// server or client (repeatable)
        #[arg(long = "cert-type")]
        cert_type: Vec<String>,
    },
    /// Show the issuance policy for a service account.
    Show {
        /// Service account ID
        sa_id: i64,
    },
    /// Clear the issuance policy (reverts the account to deny-all).
    Clear {
        /// Service account ID
        sa_id: i64,
        /// Skip confirmation
        #[arg(short = 'f', long)]
        force: bool,
    },
}

// The arguments of `service-account create`.
#[derive(Args, Debug)]
struct CreateArgs {
    #[arg(short = 'n', long)]
    name: Option<String>,
    #[arg(short = 'd', long)]
    description: Option<String>,
    /// Required only for superusers
    #[arg(long)]
    organization_id: Option<i64>,
    #[arg(long)]
    can_create_ca: bool,
    #[arg(long)]
    can_create_cert: bool,
    #[arg(long)]
    can_revoke_cert: bool,
    #[arg(long)]
    can_export_private_key: bool,
    #[arg(long)]
    can_delete_ca: bool,
}

const LIST: Fields<'static> = &[
    ("ID", "id"),
    ("Name", "name"),
    ("Description", "description"),
    ("Disabled At", "disabled_at"),
];

const DETAIL: Fields<'static> = &[
    ("ID", "id"),
    ("Name", "name"),
    ("Description", "description"),
    ("Organization", "organization_id"),
    ("Disabled At", "disabled_at"),
    ("Can Create CA", "can_create_ca"),
    ("Can Create Cert", "can_create_cert"),
    ("Can Revoke Cert", "can_revoke_cert"),
    ("Can Export Private Key", "can_export_private_key"),
    ("Can Delete CA", "can_delete_ca"),
    ("Created At", "created_at"),
];

const TOKEN_LIST: Fields<'static> = &[
    ("ID", "id"),
    ("Public ID", "public_id"),
    ("Name", "name"),
    ("Last Used", "last_used_at"),
    ("Expires", "expires_at"),
    ("Revoked", "revoked"),
];

const TOKEN_DETAIL: Fields<'static> = &[
    ("ID", "id"),
    ("Public ID", "public_id"),
    ("Name", "name"),
    ("Expires At", "expires_at"),
    ("Created At", "created_at"),
];

const POLICY: Fields<'static> = &[
    ("Service Account", "service_account_id"),
    ("CN Patterns", "cn_patterns"),
    ("SAN DNS Patterns", "san_dns_patterns"),
    ("SAN IP CIDRs", "san_ip_cidrs"),
    ("SAN Email Domains", "san_email_domains"),
    ("Allowed CA IDs", "allowed_ca_ids"),
    ("Allowed Cert Types", "allowed_certificate_types"),
    ("Max Validity Days", "max_validity_days"),
];

pub fn run(a: SaArgs) -> Res<()> {
    let mut ctx = Ctx::new(&a.output)?;
    match a.cmd {
        SaCmd::List => {
            let data = ctx.api.get(&format!("{BASE}/"), &[])?;
            ctx.out.list(&data, LIST, "Service Accounts");
        }
        SaCmd::Show { sa_id } => {
            let data = ctx.api.get(&format!("{BASE}/{sa_id}"), &[])?;
            ctx.out
                .detail(&data, DETAIL, &format!("Service Account #{sa_id}"));
        }
        SaCmd::Create(new) => {
            let flags = capability_fields!(new).map(Some);
            let name: String = need(new.name, "--name", "Name")?;
            let payload = body(
                [
                    ("name", Some(json!(name))),
                    ("description", new.description.map(Value::from)),
                    ("organization_id", new.organization_id.map(Value::from)),
                ]
                .into_iter()
                .chain(capability_pairs(flags)),
            );
            let data = ctx.api.post(&format!("{BASE}/"), payload)?;
            ctx.out.detail(&data, DETAIL, "Service Account Created");
        }
        SaCmd::Update {
            sa_id,
            name,
            description,
            disable,
            enable,
            can_create_ca,
            no_can_create_ca,
            can_create_cert,
            no_can_create_cert,
            can_revoke_cert,
            no_can_revoke_cert,
            can_export_private_key,
            no_can_export_private_key,
            can_delete_ca,
            no_can_delete_ca,
        } => {
            let flags = [
                tri(can_create_ca, no_can_create_ca),
                tri(can_create_cert, no_can_create_cert),
                tri(can_revoke_cert, no_can_revoke_cert),
                tri(can_export_private_key, no_can_export_private_key),
                tri(can_delete_ca, no_can_delete_ca),
            ];
            let payload = body(
                [
                    ("name", name.map(Value::from)),
                    ("description", description.map(Value::from)),
                    ("disabled", tri(disable, enable).map(Value::from)),
                ]
                .into_iter()
                .chain(capability_pairs(flags)),
            );
            if payload.as_object().is_none_or(|o| o.is_empty()) {
                return Err(Failure::Usage("Nothing to update.".into()));
            }
            let data = ctx.api.patch(&format!("{BASE}/{sa_id}"), payload)?;
            ctx.out
                .detail(&data, DETAIL, &format!("Service Account #{sa_id} Updated"));
        }
        SaCmd::Delete { sa_id, force } => {
            confirm(
                force,
                &format!("Delete service account #{sa_id} and its tokens?"),
            )?;
            ctx.api.delete(&format!("{BASE}/{sa_id}"))?;
            ctx.out.done(
                &format!("Service account #{sa_id} deleted."),
                json!({"id": sa_id, "deleted": true}),
            );
        }
        SaCmd::Token(TokenCmd::Create {
            sa_id,
            name,
            expires_at,
        }) => {
            let payload = body(vec![
                ("name", name.map(Value::from)),
                ("expires_at", expires_at.map(Value::from)),
            ]);
            let data = ctx.api.post(&format!("{BASE}/{sa_id}/tokens"), payload)?;
            if ctx.out.is_json() {
                ctx.out.json(&data);
                eprintln!("Store this token now — it will not be shown again.");
                return Ok(());
            }
            // As the Python client: the details, then the token alone on the last line of
            // stdout (`| tail -n1`, `| grep fpki_sa_`); the warning is for people: stderr.
            let token = super::output::text(data.get("token"));
            ctx.out.detail(&data, TOKEN_DETAIL, "Token Created");
            eprintln!("\nStore this token now — it will not be shown again:");
            outln!("{token}");
        }
        SaCmd::Token(TokenCmd::List { sa_id }) => {
            let data = ctx.api.get(&format!("{BASE}/{sa_id}/tokens"), &[])?;
            ctx.out.list(
                &data,
                TOKEN_LIST,
                &format!("Tokens for Service Account #{sa_id}"),
            );
        }
        SaCmd::Token(TokenCmd::Revoke {
            sa_id,
            token_id,
            force,
        }) => {
            confirm(force, &format!("Revoke token #{token_id}?"))?;
            ctx.api
                .delete(&format!("{BASE}/{sa_id}/tokens/{token_id}"))?;
            ctx.out.done(
                &format!("Token #{token_id} revoked."),
                json!({"id": token_id, "service_account_id": sa_id, "revoked": true}),
            );
        }
        SaCmd::Policy(PolicyCmd::Set {
            sa_id,
            max_validity_days,
            cn_pattern,
            san_dns_pattern,
            san_ip_cidr,
            san_email_domain,
            allowed_ca_id,
            cert_type,
        }) => {
            let payload = json!({
                "cn_patterns": cn_pattern,
                "san_dns_patterns": san_dns_pattern,
                "san_ip_cidrs": san_ip_cidr,
                "san_email_domains": san_email_domain,
                "allowed_ca_ids": allowed_ca_id,
                "allowed_certificate_types": cert_type,
                "max_validity_days": max_validity_days,
            });
            let data = ctx.api.put(&format!("{BASE}/{sa_id}/policy"), payload)?;
            ctx.out.detail(
                &data,
                POLICY,
                &format!("Policy for Service Account #{sa_id}"),
            );
        }
        SaCmd::Policy(PolicyCmd::Show { sa_id }) => {
            let data = ctx.api.get(&format!("{BASE}/{sa_id}/policy"), &[])?;
            ctx.out.detail(
                &data,
                POLICY,
                &format!("Policy for Service Account #{sa_id}"),
            );
        }
        SaCmd::Policy(PolicyCmd::Clear { sa_id, force }) => {
            confirm(
                force,
                &format!("Clear policy for service account #{sa_id}?"),
            )?;
            ctx.api.delete(&format!("{BASE}/{sa_id}/policy"))?;
            ctx.out.done(
                &format!("Policy for service account #{sa_id} cleared."),
                json!({"service_account_id": sa_id, "policy_cleared": true}),
            );
        }
    }
    Ok(())
}
