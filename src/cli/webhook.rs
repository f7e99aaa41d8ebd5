//! `fastpki org webhook create|list|show|delete|rotate-secret|deliveries`:
//! an organization's webhook receivers.

use clap::Subcommand;
use serde_json::{Value, json};

use super::output::Fields;
use super::{Ctx, Res, body, confirm};

#[derive(Subcommand, Debug)]
pub enum WebhookCmd {
    /// Add a webhook. Its signing secret is shown only once — store it now.
    Create {
        /// Organization ID
        org_id: i64,
        /// Where events are POSTed (http:// or https://)
        #[arg(long)]
        url: String,
        /// An event type to send (repeatable): certificate.issued,
        /// certificate.revoked, certificate.expiring, ca.expiring [default: all]
        #[arg(short = 'e', long = "event")]
        events: Vec<String>,
        #[arg(short = 'd', long)]
        description: Option<String>,
    },
    /// List an organization's webhooks.
    List {
        /// Organization ID
        org_id: i64,
    },
    /// Show a webhook.
    Show {
        /// Organization ID
        org_id: i64,
        /// Webhook ID
        webhook_id: i64,
    },
    /// Delete a webhook (its pending deliveries are dropped).
    Delete {
        /// Organization ID
        org_id: i64,
        /// Webhook ID
        webhook_id: i64,
        /// Skip confirmation
        #[arg(short = 'f', long)]
        force: bool,
    },
    /// Give a webhook a new signing secret, shown only once.
    RotateSecret {
        /// Organization ID
        org_id: i64,
        /// Webhook ID
        webhook_id: i64,
    },
    /// A webhook's recent deliveries, newest first.
    Deliveries {
        /// Organization ID
        org_id: i64,
        /// Webhook ID
        webhook_id: i64,
        /// How many
        #[arg(short = 'n', long, default_value_t = 50)]
        limit: u32,
    },
}

const LIST: Fields<'static> = &[
    ("ID", "id"),
    ("URL", "url"),
    ("Events", "events"),
    ("Description", "description"),
    ("Created At", "created_at"),
];

const DETAIL: Fields<'static> = &[
    ("ID", "id"),
    ("Organization", "organization_id"),
    ("URL", "url"),
    ("Events", "events"),
    ("Description", "description"),
    ("Created At", "created_at"),
    ("Updated At", "updated_at"),
];

const DELIVERIES: Fields<'static> = &[
    ("ID", "id"),
    ("Event", "event_type"),
    ("Event ID", "event_id"),
    ("Status", "status"),
    ("Attempts", "attempts"),
    ("Last Code", "last_status_code"),
    ("Last Error", "last_error"),
    ("Next Attempt", "next_attempt_at"),
    ("Delivered At", "delivered_at"),
];

fn base(org_id: i64) -> String {
    format!("/organizations/{org_id}/webhooks")
}

/// The webhook's details, then the secret alone on the last line of stdout
/// (as `acme eab create`); the warning is for people: stderr.
fn show_secret(ctx: &Ctx, data: &Value, title: &str) {
    if ctx.out.is_json() {
        ctx.out.json(data);
        eprintln!("Store this signing secret now — it will not be shown again.");
        return;
    }
    let secret = super::output::text(data.get("secret"));
    ctx.out.detail(data, DETAIL, title);
    eprintln!("\nStore this signing secret now — it will not be shown again:");
    outln!("{secret}");
}

pub fn run(ctx: &mut Ctx, cmd: WebhookCmd) -> Res<()> {
    match cmd {
        WebhookCmd::Create {
            org_id,
            url,
            events,
            description,
        } => {
            let payload = body([
                ("url", Some(json!(url))),
                ("events", (!events.is_empty()).then(|| json!(events))),
                ("description", description.map(Value::from)),
            ]);
            let data = ctx.api.post(&base(org_id), payload)?;
            show_secret(ctx, &data, "Webhook Created");
        }
        WebhookCmd::List { org_id } => {
            let data = ctx.api.get(&base(org_id), &[])?;
            ctx.out
                .list(&data, LIST, &format!("Webhooks of Organization #{org_id}"));
        }
        WebhookCmd::Show { org_id, webhook_id } => {
            let data = ctx
                .api
                .get(&format!("{}/{webhook_id}", base(org_id)), &[])?;
            ctx.out
                .detail(&data, DETAIL, &format!("Webhook #{webhook_id}"));
        }
        WebhookCmd::Delete {
            org_id,
            webhook_id,
            force,
        } => {
            confirm(force, &format!("Delete webhook #{webhook_id}?"))?;
            ctx.api.delete(&format!("{}/{webhook_id}", base(org_id)))?;
            ctx.out.done(
                &format!("Webhook #{webhook_id} deleted."),
                json!({"id": webhook_id, "organization_id": org_id, "deleted": true}),
            );
        }
        WebhookCmd::RotateSecret { org_id, webhook_id } => {
            let data = ctx
                .api
                .post_empty(&format!("{}/{webhook_id}/rotate-secret", base(org_id)))?;
            show_secret(ctx, &data, "Webhook Secret Replaced");
        }
        WebhookCmd::Deliveries {
            org_id,
            webhook_id,
            limit,
        } => {
            let data = ctx.api.get(
                &format!("{}/{webhook_id}/deliveries", base(org_id)),
                &[("limit", limit.to_string())],
            )?;
            ctx.out.list(
                &data,
                DELIVERIES,
                &format!("Deliveries of Webhook #{webhook_id}"),
            );
        }
    }
    Ok(())
}
