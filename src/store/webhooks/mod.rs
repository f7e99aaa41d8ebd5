//! Webhook notifications (migration 0012), one table a file:
//! - `endpoints`: an organization's webhooks (URL, event types, sealed secret);
//! - `events`: the outbox, written in the transaction of the change that
//!   causes each event, once per fact (`dedupe_key`);
//! - `deliveries`: one event to one receiver, leased while it is sent.

pub mod deliveries;
pub mod endpoints;
pub mod events;
