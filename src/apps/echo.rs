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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TestCtx;

    #[test]
    fn every_message_goes_back_to_its_sender_only() {
        let mut t = TestCtx::new();
        let a = t.open(&mut Echo, "/ws/echo");
        let b = t.open(&mut Echo, "/ws/echo");
        t.message(&mut Echo, a, "hi");
        t.message(&mut Echo, a, vec![0u8, 255]);
        assert_eq!(t.sent(), vec![(a, Message::text("hi")), (a, Message::binary(vec![0u8, 255]))]);
        t.message(&mut Echo, b, "");
        assert_eq!(t.texts_to(b), [""]);
    }
}
