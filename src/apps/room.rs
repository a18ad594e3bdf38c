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
    use super::*;
    use crate::{ClientInfo, ClientKind, TestCtx};

    /// A client on `/ws/room/NAME`, as the route gives it.
    fn in_room(t: &mut TestCtx, app: &mut Rooms, room: &str) -> ClientId {
        let mut info = ClientInfo::new(0, "127.0.0.1:1".parse().unwrap(), ClientKind::WebSocket);
        info.path = format!("/ws/room/{room}");
        info.param = room.to_string();
        t.open_with(app, info)
    }

    #[test]
    fn a_message_reaches_its_room_sender_included_and_no_other_room() {
        let mut t = TestCtx::new();
        let mut app = Rooms;
        let a = in_room(&mut t, &mut app, "blue");
        let b = in_room(&mut t, &mut app, "blue");
        let c = in_room(&mut t, &mut app, "red");
        assert_eq!(t.rooms_of(a), ["blue"]);
        t.message(&mut app, a, "hello blue");
        assert_eq!(t.texts_to(a), ["hello blue"]);
        assert_eq!(t.texts_to(b), ["hello blue"]);
        assert!(t.texts_to(c).is_empty());
        t.disconnect(&mut app, b);
        t.message(&mut app, c, vec![1u8]);
        assert_eq!(t.sent(), vec![(c, Message::binary(vec![1u8]))]);
    }

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
