//! The library API a teacher uses: `examples/hello_app.rs` mounted on a
//! server of its own next to the built-in apps.

mod support;

#[path = "../examples/hello_app.rs"]
mod hello_app;

use support::{test_config, TempDir, TestServer};
use wslab::Server;

#[test]
fn the_hello_example_greets_relays_and_says_goodbye() {
    let data = TempDir::new("hello");
    let mut server = Server::new(test_config(data.path())).unwrap();
    server.mount("hello", "/ws/hello", hello_app::Hello::default());
    let server = TestServer::from_server(server, data);

    let mut a = server.ws("/ws/hello");
    assert!(a.recv_text().starts_with("hello, you are #"));
    let mut b = server.ws("/ws/hello");
    assert!(b.recv_text().ends_with("2 online"));
    assert!(a.recv_text().ends_with("joined"));
    b.send("hi");
    assert!(a.recv_text().contains("says: hi (message 1 here)"));
    assert!(b.recv_text().contains("says: hi"));
    b.close();
    assert!(a.recv_text().ends_with("left"));
    // The built-in apps still run beside it.
    let mut echo = server.ws("/ws/echo");
    echo.send("still here");
    assert_eq!(echo.recv_text(), "still here");
    assert_eq!(server.status()["connections"]["hello"], 1);
}
