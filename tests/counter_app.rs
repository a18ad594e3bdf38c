//! `examples/counter_app.rs`, the app of docs/writing-an-app.md: its hooks
//! through `TestCtx`, then on a real server, as the root app too.

mod support;

#[path = "../examples/counter_app.rs"]
mod counter_app;

use counter_app::{registration, Counter};
use serde_json::json;
use support::{test_config, TempDir, TestServer};
use wslab::{Server, TestCtx};

#[test]
fn the_hooks_count_clients_and_messages() {
    let mut t = TestCtx::new();
    let mut app = Counter::default();
    let ann = t.open(&mut app, "/ws/counter?name=ann");
    assert_eq!(t.json_to(ann), [json!({"type": "count", "clients": 1, "joined": "ann"})]);
    let bob = t.open(&mut app, "/ws/counter");
    assert_eq!(t.json_to(ann), [json!({"type": "count", "clients": 2, "joined": "someone"})]);
    t.message(&mut app, bob, "hi");
    t.message(&mut app, bob, "again");
    assert_eq!(t.json_to(bob).last(), Some(&json!({"type": "you", "messages": 2})));
    t.disconnect(&mut app, bob);
    assert_eq!(t.json_to(ann), [json!({"type": "count", "clients": 1})]);
}

#[test]
fn on_a_server_of_its_own_it_is_the_root_app() {
    let data = TempDir::new("counter");
    let mut config = test_config(data.path());
    config.root_app = "counter".into();
    let mut server = Server::empty(config);
    server.register(registration());
    let server = TestServer::from_server(server, data);
    let mut a = server.ws("/?name=ann");
    assert_eq!(a.recv_json(), json!({"type": "count", "clients": 1, "joined": "ann"}));
    let mut b = server.ws("/ws/counter");
    assert_eq!(a.recv_json()["clients"], 2);
    assert_eq!(b.recv_json()["clients"], 2);
    b.send("x");
    assert_eq!(b.recv_json(), json!({"type": "you", "messages": 1}));
    b.close();
    assert_eq!(a.recv_json(), json!({"type": "count", "clients": 1}));
    assert_eq!(server.status()["connections"]["counter"], 2 - 1);
}
