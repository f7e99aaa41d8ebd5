//! `fastpki org list|show|create|update|delete|add-user|remove-user|users|webhook`.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::output::{Fields, text};
use super::{Ctx, Failure, OutputArg, Res, body, confirm, need};

#[derive(Args, Debug)]
pub struct OrgArgs {
    #[command(flatten)]
    output: OutputArg,
    #[command(subcommand)]
    cmd: OrgCmd,
}

#[derive(Subcommand, Debug)]
enum OrgCmd {
    /// List organizations.
    List,
    /// Show organization details.
    Show {
        /// Organization ID
        org_id: i64,
    },
    /// Create a new organization.
    Create {
        #[arg(short = 'n', long)]
        name: Option<String>,
        #[arg(short = 'd', long)]
        description: Option<String>,
    },
    /// Update an organization.
    Update {
        /// Organization ID
        org_id: i64,
        #[arg(short = 'n', long)]
        name: Option<String>,
        #[arg(short = 'd', long)]
        description: Option<String>,
    },
    /// Delete an organization.
    Delete {
        /// Organization ID
        org_id: i64,
        /// Skip confirmation
        #[arg(short = 'f', long)]
        force: bool,
    },
    /// Add a user to an organization.
    AddUser {
        /// Organization ID
        org_id: i64,
        /// User ID
        user_id: i64,
    },
    /// Remove a user from an organization.
    RemoveUser {
        /// Organization ID
        org_id: i64,
        /// User ID
        user_id: i64,
    },
    /// List users in an organization.
    Users {
        /// Organization ID
        org_id: i64,
    },
    /// An organization's webhooks (signed event notifications).
    #[command(subcommand)]
    Webhook(super::webhook::WebhookCmd),
}

const LIST: Fields<'static> = &[
    ("ID", "id"),
    ("Name", "name"),
    ("Description", "description"),
    ("Created At", "created_at"),
];

const DETAIL: Fields<'static> = &[
    ("ID", "id"),
    ("Name", "name"),
    ("Description", "description"),
    ("Created At", "created_at"),
    ("Updated At", "updated_at"),
];

const USERS: Fields<'static> = &[
    ("ID", "id"),
    ("Username", "username"),
    ("Email", "email"),
    ("Role", "role"),
    ("Active", "is_active"),
];

pub fn run(a: OrgArgs) -> Res<()> {
    let mut ctx = Ctx::new(&a.output)?;
    match a.cmd {
        OrgCmd::List => {
            let data = ctx.api.get("/organizations/", &[])?;
            ctx.out.list(&data, LIST, "Organizations");
        }
        OrgCmd::Show { org_id } => {
            let data = ctx.api.get(&format!("/organizations/{org_id}"), &[])?;
            ctx.out
                .detail(&data, DETAIL, &format!("Organization #{org_id}"));
        }
        OrgCmd::Create { name, description } => {
            let name: String = need(name, "--name", "Name")?;
            let payload = body(vec![
                ("name", Some(json!(name))),
                ("description", description.map(Value::from)),
            ]);
            let data = ctx.api.post("/organizations/", payload)?;
            ctx.out.detail(&data, DETAIL, "Organization Created");
        }
        OrgCmd::Update {
            org_id,
            name,
            description,
        } => {
            if name.is_none() && description.is_none() {
                return Err(Failure::Usage(
                    "Nothing to update. Provide --name or --description.".into(),
                ));
            }
            let payload = body(vec![
                ("name", name.map(Value::from)),
                ("description", description.map(Value::from)),
            ]);
            let data = ctx.api.put(&format!("/organizations/{org_id}"), payload)?;
            ctx.out
                .detail(&data, DETAIL, &format!("Organization #{org_id} Updated"));
        }
        OrgCmd::Delete { org_id, force } => {
            confirm(force, &format!("Delete organization #{org_id}?"))?;
            ctx.api.delete(&format!("/organizations/{org_id}"))?;
            ctx.out.done(
                &format!("Organization #{org_id} deleted."),
                json!({"id": org_id, "deleted": true}),
            );
        }
        OrgCmd::AddUser { org_id, user_id } => {
            let data = ctx
                .api
                .post_empty(&format!("/organizations/{org_id}/users/{user_id}"))?;
            ctx.out.done(
                &format!(
                    "User {} added to organization #{org_id}.",
                    text(data.get("username"))
                ),
                data,
            );
        }
        OrgCmd::RemoveUser { org_id, user_id } => {
            let data = ctx
                .api
                .delete(&format!("/organizations/{org_id}/users/{user_id}"))?;
            ctx.out.done(
                &format!(
                    "User {} removed from organization #{org_id}.",
                    text(data.get("username"))
                ),
                data,
            );
        }
        OrgCmd::Webhook(cmd) => super::webhook::run(&mut ctx, cmd)?,
        OrgCmd::Users { org_id } => {
            let data = ctx
                .api
                .get(&format!("/organizations/{org_id}/users"), &[])?;
            ctx.out
                .list(&data, USERS, &format!("Users in Organization #{org_id}"));
        }
    }
    Ok(())
}
