//! `/ws/room/NAME` (and `/` as room `lobby`): every message goes to everyone
//! in the room, the sender included.

use crate::app::{App, ClientId, Ctx, Message};

/// The rooms app (spec §3.2). The room is the path parameter of the client.
#[derive(Debug, Default)]
pub struct Rooms;

/// A room name: 1 to 64 of `A-Z a-z 0-9 _ -`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl App for Rooms {
    fn on_open(&mut self, ctx: &mut Ctx, client: ClientId) {
        let room = ctx.info(client).map(|i| i.param.clone()).unwrap_or_default();
        ctx.join(client, &room);
    }

    fn on_message(&mut self, ctx: &mut Ctx, client: ClientId, message: Message) {
        ctx.broadcast_rooms_of(client, message);
    }
}

#[cfg(test)]
mod tests {
    use super::valid_name;

    #[test]
    fn room_names() {
        assert!(valid_name("lobby"));
        assert!(valid_name("A-z_09"));
        assert!(valid_name(&"a".repeat(64)));
        assert!(!valid_name(&"a".repeat(65)));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name("é"));
    }
}
