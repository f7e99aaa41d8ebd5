//! `fastpki user list|me|show|create|update|delete`.

use clap::{Args, Subcommand};
use fastpki::capability_fields;
use serde_json::{Value, json};

use super::output::Fields;
use super::{Ctx, Failure, OutputArg, Res, body, capability_pairs, confirm, need, tri};

#[derive(Args, Debug)]
pub struct UserArgs {
    #[command(flatten)]
    output: OutputArg,
    #[command(subcommand)]
    cmd: UserCmd,
}

#[derive(Subcommand, Debug)]
enum UserCmd {
    /// List all users (superuser only).
    List {
        #[arg(long, default_value_t = 0)]
        skip: i64,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Show current user details.
    Me,
    /// Show user details.
    Show {
        /// User ID
        user_id: i64,
    },
    /// Create a new user (without a login only for a new server's first user).
    Create(CreateArgs),
    /// Update a user.
    Update {
        /// User ID
        user_id: i64,
        #[arg(short = 'e', long)]
        email: Option<String>,
        /// New password; "-p" alone asks for it without echo
        #[arg(short = 'p', long, num_args = 0..=1, default_missing_value = "")]
        password: Option<String>,
        #[arg(short = 'r', long)]
        role: Option<String>,
        #[arg(long, overrides_with = "inactive")]
        active: bool,
        #[arg(long)]
        inactive: bool,
        #[arg(long = "org")]
        org_id: Option<i64>,
        #[arg(long, overrides_with = "no_create_ca")]
        can_create_ca: bool,
        #[arg(long)]
        no_create_ca: bool,
        #[arg(long, overrides_with = "no_create_cert")]
        can_create_cert: bool,
        #[arg(long)]
        no_create_cert: bool,
        #[arg(long, overrides_with = "no_revoke_cert")]
        can_revoke_cert: bool,
        #[arg(long)]
        no_revoke_cert: bool,
        #[arg(long = "can-export-key", overrides_with = "no_export_key")]
        can_export_key: bool,
        #[arg(long)]
        no_export_key: bool,
        #[arg(long, overrides_with = "no_delete_ca")]
        can_delete_ca: bool,
        #[arg(long)]
        no_delete_ca: bool,
    },
    /// Delete a user (superuser only).
    Delete {
        /// User ID
        user_id: i64,
        /// Skip confirmation
        #[arg(short = 'f', long)]
        force: bool,
    },
}

// The arguments of `user create`.
#[derive(Args, Debug)]
struct CreateArgs {
    #[arg(short = 'u', long)]
    username: Option<String>,
    #[arg(short = 'e', long)]
    email: Option<String>,
    /// Password; asked for twice without echo when not given (or read from standard input)
    #[arg(short = 'p', long)]
    password: Option<String>,
    /// Role: user, admin, superuser
    #[arg(short = 'r', long, default_value = "user")]
    role: String,
    /// Organization ID
    #[arg(long = "org")]
    org_id: Option<i64>,
    #[arg(long)]
    can_create_ca: bool,
    #[arg(long)]
    can_create_cert: bool,
    #[arg(long)]
    can_revoke_cert: bool,
    #[arg(long = "can-export-key")]
    can_export_private_key: bool,
    #[arg(long)]
    can_delete_ca: bool,
}

const LIST: Fields<'static> = &[
    ("ID", "id"),
    ("Username", "username"),
    ("Email", "email"),
    ("Role", "role"),
    ("Active", "is_active"),
    ("Org", "organization_id"),
];

const DETAIL: Fields<'static> = &[
    ("ID", "id"),
    ("Username", "username"),
    ("Email", "email"),
    ("Role", "role"),
    ("Active", "is_active"),
    ("Organization", "organization_id"),
    ("Create CA", "can_create_ca"),
    ("Create Cert", "can_create_cert"),
    ("Revoke Cert", "can_revoke_cert"),
    ("Export Key", "can_export_private_key"),
    ("Delete CA", "can_delete_ca"),
    ("Created At", "created_at"),
    ("Updated At", "updated_at"),
];

pub fn run(a: UserArgs) -> Res<()> {
    let mut ctx = Ctx::new(&a.output)?;
    match a.cmd {
        UserCmd::List { skip, limit } => {
            let q = [("skip", skip.to_string()), ("limit", limit.to_string())];
            let data = ctx.api.get("/users/", &q)?;
            ctx.out.list(&data, LIST, "Users");
        }
        UserCmd::Me => {
            let data = ctx.api.get("/users/me", &[])?;
            ctx.out.detail(&data, DETAIL, "Current User");
        }
        UserCmd::Show { user_id } => {
            let data = ctx.api.get(&format!("/users/{user_id}"), &[])?;
            ctx.out.detail(&data, DETAIL, &format!("User #{user_id}"));
        }
        UserCmd::Create(new) => {
            let flags = capability_fields!(new).map(Some);
            let username: String = need(new.username, "--username", "Username")?;
            let email: String = need(new.email, "--email", "Email")?;
            let password = super::password(new.password, true)?;
            let payload = body(
                [
                    ("username", Some(json!(username))),
                    ("email", Some(json!(email))),
                    ("password", Some(json!(password))),
                    ("role", Some(json!(new.role))),
                    ("organization_id", new.org_id.map(Value::from)),
                ]
                .into_iter()
                .chain(capability_pairs(flags)),
            );
            let data = ctx.api.post_maybe_anonymous("/users/", payload)?;
            ctx.out.detail(&data, DETAIL, "User Created");
        }
        UserCmd::Update {
            user_id,
            email,
            password,
            role,
            active,
            inactive,
            org_id,
            can_create_ca,
            no_create_ca,
            can_create_cert,
            no_create_cert,
            can_revoke_cert,
            no_revoke_cert,
            can_export_key,
            no_export_key,
            can_delete_ca,
            no_delete_ca,
        } => {
            let password = match password {
                Some(p) if p.is_empty() => Some(super::password(None, true)?),
                other => other,
            };
            let flags = [
                tri(can_create_ca, no_create_ca),
                tri(can_create_cert, no_create_cert),
                tri(can_revoke_cert, no_revoke_cert),
                tri(can_export_key, no_export_key),
                tri(can_delete_ca, no_delete_ca),
            ];
            let payload = body(
                [
                    ("email", email.map(Value::from)),
                    ("password", password.map(Value::from)),
                    ("role", role.map(Value::from)),
                    ("is_active", tri(active, inactive).map(Value::from)),
                    ("organization_id", org_id.map(Value::from)),
                ]
                .into_iter()
                .chain(capability_pairs(flags)),
            );
            if payload.as_object().is_none_or(|o| o.is_empty()) {
                return Err(Failure::Usage(
                    "Nothing to update. Provide at least one flag.".into(),
                ));
            }
            let data = ctx.api.patch(&format!("/users/{user_id}"), payload)?;
            ctx.out
                .detail(&data, DETAIL, &format!("User #{user_id} Updated"));
        }
        UserCmd::Delete { user_id, force } => {
            confirm(force, &format!("Delete user #{user_id}?"))?;
            ctx.api.delete(&format!("/users/{user_id}"))?;
            ctx.out.done(
                &format!("User #{user_id} deleted."),
                json!({"id": user_id, "deleted": true}),
            );
        }
    }
    Ok(())
}
