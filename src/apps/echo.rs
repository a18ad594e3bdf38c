//! `/ws/echo`: every text or binary message goes back to its sender, unchanged.

use crate::app::{App, ClientId, Ctx, Message};

/// The echo app (spec §3.1); the endpoint the Autobahn suite runs against.
#[derive(Debug, Default)]
pub struct Echo;

impl App for Echo {
    fn on_message(&mut self, ctx: &mut Ctx, client: ClientId, message: Message) {
        ctx.send(client, message);
    }
}
