//! Ratchet servers written for the course, on wslab unchanged: `wslab
//! ratchet DIR`, then `--app PATH=php DIR/server.php`, with real php-cli.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::json;
use support::{test_config, TempDir, TestServer};
use wslab::config::ScriptSpec;
use wslab::Server;

/// php-cli, or a skip note (a failure under WSLAB_REQUIRE_PHP=1, as CI sets).
fn php_available() -> bool {
    let found = Command::new("php").arg("-v").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("WSLAB_REQUIRE_PHP").is_err(),
            "php not found, and WSLAB_REQUIRE_PHP=1 requires it (apt-get install php-cli)"
        );
        eprintln!("skipped: php not found (apt-get install php-cli)");
    }
    found
}

/// A project folder with `files` (path, content), set up by `wslab ratchet`.
fn project(tag: &str, files: &[(&str, &str)]) -> TempDir {
    let dir = TempDir::new(tag);
    for (path, content) in files {
        let file = dir.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, content).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_wslab")).arg("ratchet").arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.path().join("vendor/autoload.php").is_file());
    dir
}

fn server(tag: &str, apps: &[(&str, &Path, &str)]) -> TestServer {
    let data = TempDir::new(tag);
    let mut config = test_config(data.path());
    config.scripts = apps
        .iter()
        .map(|(path, dir, file)| ScriptSpec {
            path: path.to_string(),
            command: format!("php '{}'", dir.join(file).display()),
        })
        .collect();
    TestServer::from_server(Server::new(config).unwrap(), data)
}

#[test]
fn the_ratchet_chat_example_runs_unchanged_with_ioserver() {
    if !php_available() {
        return;
    }
    let source = std::fs::read_to_string("examples/scripts/chat.php").unwrap();
    let dir = project("ratchet-chat", &[("chat.php", &source)]);
    let server = server("ratchet-chat", &[("/chat", dir.path(), "chat.php")]);
    support::course_chat_conversation(&server, "/chat");
}

const ROUTES: &str = r#"<?php
require __DIR__ . '/vendor/autoload.php';

use Ratchet\ConnectionInterface;
use Ratchet\MessageComponentInterface;

class Shout implements MessageComponentInterface {
    public function onOpen(ConnectionInterface $conn) {
        $conn->send('path ' . $conn->httpRequest->getUri()->getPath() . ' agent ' . $conn->httpRequest->getHeaderLine('User-Agent')
            . ' query ' . $conn->httpRequest->getUri()->getQuery() . ' from ' . $conn->remoteAddress);
    }
    public function onMessage(ConnectionInterface $from, $msg) {
        if ($msg === 'throw') {
            throw new \RuntimeException('the exercise is not finished');
        }
        $from->send(strtoupper($msg));
    }
    public function onClose(ConnectionInterface $conn) {}
    public function onError(ConnectionInterface $conn, \Exception $e) {
        $conn->send('error: ' . $e->getMessage());
        $conn->close();
    }
}

$app = new Ratchet\App('localhost', 8080);
$app->route('/shout', new Shout, ['*']);
$app->route('/echo', new Ratchet\Server\EchoServer, ['*']);
$app->run();
"#;

#[test]
fn ratchet_app_routes_match_the_path_and_exceptions_reach_on_error() {
    if !php_available() {
        return;
    }
    let dir = project("ratchet-routes", &[("server.php", ROUTES)]);
    let server = server(
        "ratchet-routes",
        &[("/shout", dir.path(), "server.php"), ("/echo", dir.path(), "server.php")],
    );
    let mut shout = server.ws("/shout?who=J%C3%BCrgen+K&t=a!b");
    let hello = shout.recv_text();
    assert!(hello.starts_with("path /shout agent "), "{hello}");
    // The query string as the browser sent it, as guzzle's Uri keeps it.
    assert!(hello.contains(" query who=J%C3%BCrgen+K&t=a!b from "), "{hello}");
    assert!(hello.ends_with("from 127.0.0.1"), "no port in remoteAddress: {hello}");
    shout.send("hi");
    assert_eq!(shout.recv_text(), "HI");
    let mut echo = server.ws("/echo");
    echo.send("same");
    assert_eq!(echo.recv_text(), "same");
    shout.send("throw");
    assert_eq!(shout.recv_text(), "error: the exercise is not finished");
    assert_eq!(shout.expect_close(), 1000);
    echo.send("still");
    assert_eq!(echo.recv_text(), "still");
}

#[test]
fn a_composer_psr4_namespace_across_files_loads_and_output_never_corrupts_the_protocol() {
    if !php_available() {
        return;
    }
    let composer = r#"{"autoload": {"psr-4": {"App\\": "src/"}}}"#;
    let chat = r#"<?php
namespace App;

use Ratchet\ConnectionInterface;
use Ratchet\MessageComponentInterface;

class Chat implements MessageComponentInterface {
    public function __construct() {
        $this->clients = new \SplObjectStorage; // a dynamic property: PHP 8.2 deprecates it
    }
    public function onOpen(ConnectionInterface $conn) {
        echo "New connection! ({$conn->resourceId})\n";
        print_r(['noise' => true]);
        $this->clients->attach($conn);
    }
    public function onMessage(ConnectionInterface $from, $msg) {
        echo "no newline here, and then the sends"; // on stdout it would spoil the next line
        foreach ($this->clients as $client) {
            $client->send(Format::line($from->resourceId, $msg));
        }
    }
    public function onClose(ConnectionInterface $conn) { $this->clients->detach($conn); }
    public function onError(ConnectionInterface $conn, \Exception $e) { $conn->close(); }
}
"#;
    let format = r##"<?php
namespace App;

class Format {
    public static function line($id, $msg) { return "#$id: $msg"; }
}
"##;
    let main = r#"<?php
require dirname(__DIR__) . '/vendor/autoload.php';

use Ratchet\Http\HttpServer;
use Ratchet\Server\IoServer;
use Ratchet\WebSocket\WsServer;

$server = IoServer::factory(new HttpServer(new WsServer(new App\Chat())), 8080, '0.0.0.0');
$server->run();
"#;
    let dir = project(
        "ratchet-psr4",
        &[
            ("composer.json", composer),
            ("src/Chat.php", chat),
            ("src/Format.php", format),
            ("bin/server.php", main),
        ],
    );
    let data = TempDir::new("ratchet-psr4-data");
    let mut config = test_config(data.path());
    // display_errors on, as on a course machine: notices must still not reach stdout.
    config.scripts = vec![ScriptSpec {
        path: "/chat".into(),
        command: format!("php -d display_errors=1 '{}'", dir.path().join("bin/server.php").display()),
    }];
    let server = TestServer::from_server(Server::new(config).unwrap(), data);
    let mut a = server.ws("/chat");
    let mut b = server.ws("/chat");
    // A round trip through b makes sure both opens were handled.
    b.send("b here");
    let line = a.recv_text();
    assert!(line.ends_with(": b here"), "{line}");
    assert_eq!(b.recv_text(), line);
    a.send("one");
    let from_a = b.recv_text();
    assert!(from_a.starts_with('#') && from_a.ends_with(": one"), "{from_a}");
    assert_eq!(a.recv_text(), from_a);
}

#[test]
fn binary_messages_arrive_as_strings_and_invalid_utf8_goes_back_as_binary() {
    if !php_available() {
        return;
    }
    let source = r#"<?php
require __DIR__ . '/vendor/autoload.php';
$server = Ratchet\Server\IoServer::factory(new Ratchet\Http\HttpServer(new Ratchet\WebSocket\WsServer(new Ratchet\Server\EchoServer())), 9000);
$server->run();
"#;
    let dir = project("ratchet-echo", &[("echo.php", source)]);
    let server = server("ratchet-echo", &[("/e", dir.path(), "echo.php")]);
    let mut ws = server.ws("/e");
    ws.send(b"plain".to_vec());
    assert_eq!(ws.recv(), tungstenite::Message::text("plain"), "Ratchet's EchoServer answers with text");
    ws.send(vec![0xffu8, 0x00]);
    assert_eq!(ws.recv(), tungstenite::Message::binary(vec![0xffu8, 0x00]));
}

#[test]
fn chat_protocol_php_speaks_the_chat_protocol_of_ws_chat() {
    if !php_available() {
        return;
    }
    let source = std::fs::read_to_string("examples/scripts/chat-protocol.php").unwrap();
    let dir = project("chat-protocol", &[("chat-protocol.php", &source)]);
    let server = server("chat-protocol", &[("/ws/chat", dir.path(), "chat-protocol.php")]);
    let mut alice = server.ws("/ws/chat");
    alice.send_json(serde_json::json!({"type": "login", "user": " alice "}));
    assert_eq!(
        alice.recv_json(),
        serde_json::json!({"type": "welcome", "user": "alice", "users": ["alice"], "history": []})
    );
    let mut bob = server.ws("/ws/chat");
    bob.send_json(serde_json::json!({"type": "chat", "user": "bob", "text": "hi!"}));
    let welcome = bob.recv_json();
    assert_eq!(
        (welcome["type"].clone(), welcome["users"].clone()),
        (json!("welcome"), json!(["alice", "bob"]))
    );
    let chat = bob.recv_json();
    assert_eq!((chat["user"].clone(), chat["text"].clone()), (json!("bob"), json!("hi!")));
    assert!(chat["ts"].as_u64().unwrap() > 1_700_000_000_000);
    assert_eq!(alice.recv_json(), json!({"type": "join", "user": "bob"}));
    assert_eq!(alice.recv_json()["text"], "hi!");
    bob.send_json(json!({"type": "login", "user": "alice"}));
    assert_eq!(bob.recv_json()["code"], "name_taken");
    bob.send_json(json!({"type": "login", "user": "robert"}));
    assert_eq!(alice.recv_json(), json!({"type": "rename", "from": "bob", "to": "robert"}));
    assert_eq!(bob.recv_json(), json!({"type": "rename", "from": "bob", "to": "robert"}));
    for (bad, code) in [
        ("{nope", "bad_json"),
        (r#"{"type":"dance"}"#, "unknown_type"),
        (r#"{"type":"chat","text":"  "}"#, "empty"),
    ] {
        bob.send(bad);
        assert_eq!(bob.recv_json()["code"], code, "{bad}");
    }
    bob.close();
    assert_eq!(alice.recv_json(), json!({"type": "leave", "user": "robert"}));
}

#[test]
fn sends_of_one_hook_become_one_line_per_run_of_one_message_in_order() {
    if !php_available() {
        return;
    }
    // The runtime alone, fed event lines as wslab writes them: what it
    // answers is exactly the command lines wslab would get.
    let source = r#"<?php
require __DIR__ . '/vendor/autoload.php';
class Fan implements Ratchet\MessageComponentInterface {
    private $clients;
    function __construct() { $this->clients = new SplObjectStorage; }
    function onOpen(Ratchet\ConnectionInterface $conn) { $this->clients->attach($conn); }
    function onMessage(Ratchet\ConnectionInterface $from, $msg) {
        foreach ($this->clients as $c) { $c->send($msg); }
        $from->send("only you");
        foreach ($this->clients as $c) { $c->send($msg); }
        $from->send(null);
        $from->send(42);
        $from->send(42);
    }
    function onClose(Ratchet\ConnectionInterface $conn) { $this->clients->detach($conn); }
    function onError(Ratchet\ConnectionInterface $conn, \Exception $e) { $conn->close(); }
}
Ratchet\Server\IoServer::factory(new Ratchet\Http\HttpServer(new Ratchet\WebSocket\WsServer(new Fan())), 8080)->run();
"#;
    let dir = project("ratchet-groups", &[("fan.php", source)]);
    let open = |id: u64| json!({"type": "open", "id": id, "peer": "127.0.0.1:5000", "path": "/", "query": [], "headers": {}, "subprotocol": null});
    let mut input = String::new();
    for event in [
        json!({"type": "hello", "version": 1, "server": "wslab", "app": "/"}),
        open(1),
        open(2),
        open(3),
        json!({"type": "message", "id": 2, "text": "hi"}),
        json!({"type": "close", "id": 1, "code": 1000, "reason": "", "by_server": false}),
        json!({"type": "message", "id": 3, "text": "again"}),
    ] {
        input.push_str(&format!("{event}\n"));
    }
    let mut child = Command::new("php")
        .arg(dir.path().join("fan.php"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|line| !line.is_empty()) // empty lines are allowed, and skipped (docs/scripts.md)
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let send = |to: serde_json::Value, text: &str| json!({"type": "send", "to": to, "text": text});
    assert_eq!(
        lines,
        vec![
            json!({"type": "hello", "version": 1}),
            send(json!([1, 2, 3]), "hi"),
            send(json!([2]), "only you"),
            send(json!([1, 2, 3]), "hi"),
            send(json!([2]), ""),
            send(json!([2, 2]), "42"),
            send(json!([2, 3]), "again"),
            send(json!([3]), "only you"),
            send(json!([2, 3]), "again"),
            send(json!([3]), ""),
            send(json!([3, 3]), "42"),
        ],
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn timers_on_the_loop_push_to_clients_in_both_ways_of_starting() {
    if !php_available() {
        return;
    }
    // A seats-left push every 50 ms, as course code writes it with
    // IoServer::factory and `$server->loop`, or with a loop of its own and
    // `new IoServer(..., $socket, $loop)`, `$loop->run()`.
    let app = r#"<?php
require __DIR__ . '/vendor/autoload.php';
use Ratchet\ConnectionInterface;
class Seats implements Ratchet\MessageComponentInterface {
    public $clients;
    public $left = 1000;
    function __construct() { $this->clients = new SplObjectStorage; }
    function onOpen(ConnectionInterface $conn) { $this->clients->attach($conn); }
    function onMessage(ConnectionInterface $from, $msg) {
        if ($msg === 'later') {
            React\EventLoop\Loop::addTimer(0.01, function () use ($from) { $from->send('one-shot'); });
        } elseif ($msg === 'throw') {
            React\EventLoop\Loop::get()->futureTick(function () { throw new RuntimeException('in a tick'); });
        }
    }
    function onClose(ConnectionInterface $conn) { $this->clients->detach($conn); }
    function onError(ConnectionInterface $conn, \Exception $e) { $conn->close(); }
}
"#;
    let push = r#"
$seats = new Seats;
function push($loop, $seats) {
    $loop->addPeriodicTimer(0.05, function ($timer) use ($seats, $loop) {
        $seats->left--;
        foreach ($seats->clients as $client) { $client->send("left: " . $seats->left); }
        if ($seats->left === 0) { $loop->cancelTimer($timer); }
    });
}
"#;
    let factory = format!(
        "{app}{push}$server = Ratchet\\Server\\IoServer::factory(new Ratchet\\Http\\HttpServer(new Ratchet\\WebSocket\\WsServer($seats)), 8080);\npush($server->loop, $seats);\n$server->run();\n"
    );
    let own_loop = format!(
        "{app}{push}$loop = React\\EventLoop\\Factory::create();\npush($loop, $seats);\n$socket = new React\\Socket\\Server('0.0.0.0:8080', $loop);\nnew Ratchet\\Server\\IoServer(new Ratchet\\Http\\HttpServer(new Ratchet\\WebSocket\\WsServer($seats)), $socket, $loop);\n$loop->run();\n"
    );
    let dir = project("ratchet-timers", &[("factory.php", &factory), ("own-loop.php", &own_loop)]);
    let server =
        server("ratchet-timers", &[("/a", dir.path(), "factory.php"), ("/b", dir.path(), "own-loop.php")]);
    for path in ["/a", "/b"] {
        let mut ws = server.ws(path);
        let first: i64 = ws.recv_text().strip_prefix("left: ").unwrap().parse().unwrap();
        assert_eq!(ws.recv_text(), format!("left: {}", first - 1), "{path}: periodic");
        ws.send("throw");
        ws.send("later");
        // The one-shot timer fires between the pushes; the tick that threw
        // is logged, and the loop goes on pushing.
        let mut got = ws.recv_text();
        while got.starts_with("left: ") {
            got = ws.recv_text();
        }
        assert_eq!(got, "one-shot", "{path}");
        let next = ws.recv_text();
        assert!(next.starts_with("left: "), "{path}: still pushing after the throw, got {next:?}");
    }
}

#[test]
fn wslab_ratchet_never_replaces_composers_own_autoloader() {
    let dir = TempDir::new("ratchet-composer");
    let autoload = dir.path().join("vendor/autoload.php");
    std::fs::create_dir_all(autoload.parent().unwrap()).unwrap();
    let composer =
        "<?php\n// autoload.php @generated by Composer\nreturn ComposerAutoloaderInit::getLoader();\n";
    std::fs::write(&autoload, composer).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wslab")).arg("ratchet").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Composer") && err.contains("vendor"), "{err}");
    assert_eq!(std::fs::read_to_string(&autoload).unwrap(), composer, "left as it was");
    // Its own file it writes again (a second `wslab ratchet` after an upgrade).
    std::fs::remove_file(&autoload).unwrap();
    for _ in 0..2 {
        let out = Command::new(env!("CARGO_BIN_EXE_wslab")).arg("ratchet").arg(dir.path()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Course code from the Ratchet docs and tutorials that wslab's classes
/// must take as Ratchet 0.4.4 does.
const DECORATED: &str = r#"<?php
require __DIR__ . '/vendor/autoload.php';

use Ratchet\ConnectionInterface;
use Ratchet\MessageComponentInterface;

class Moody implements MessageComponentInterface, Ratchet\WebSocket\WsServerInterface {
    public function getSubProtocols() { return ['moody']; }
    public function onOpen(ConnectionInterface $conn) {}
    public function onMessage(ConnectionInterface $from, $msg) {
        if ($msg === 'unsupported') {
            $from->close(1003);
        } elseif ($msg === 'reserved') {
            $from->close(1006);
        } elseif ($msg === 'raw') {
            fwrite(STDOUT, 'debugging without a newline');
            $from->send('after raw');
        } elseif ($msg === 'last words') {
            $from->send('going down');
            exit(0);
        } else {
            $from->send("moody: $msg");
        }
    }
    public function onClose(ConnectionInterface $conn) {}
    public function onError(ConnectionInterface $conn, \Exception $e) { $conn->close(); }
}

$blocked = new Ratchet\Server\IpBlackList(new Ratchet\Server\EchoServer);
$blocked->blockAddress('127.0.0.1');
$app = new Ratchet\App('localhost', 8080);
// A WsServer or an OriginCheck is a component to route(), as in Ratchet.
$app->route('/moody', new Ratchet\WebSocket\WsServer(new Moody));
$app->route('/checked', new Ratchet\Http\OriginCheck(new Ratchet\Server\EchoServer, ['localhost']));
$app->route('/blocked', $blocked);
$app->run();
"#;

#[test]
fn decorators_close_codes_raw_stdout_and_exit_behave_as_on_ratchet() {
    if !php_available() {
        return;
    }
    let dir = project("ratchet-decorated", &[("server.php", DECORATED)]);
    let server = server(
        "ratchet-decorated",
        &[
            ("/moody", dir.path(), "server.php"),
            ("/checked", dir.path(), "server.php"),
            ("/blocked", dir.path(), "server.php"),
        ],
    );
    let mut moody = server.ws("/moody");
    moody.send("hi");
    assert_eq!(moody.recv_text(), "moody: hi");
    moody.send("raw");
    assert_eq!(moody.recv_text(), "after raw", "what the app wrote to STDOUT itself spoils nothing");
    moody.send("unsupported");
    assert_eq!(moody.expect_close(), 1003);
    let mut moody = server.ws("/moody");
    moody.send("reserved");
    assert_eq!(moody.expect_close(), 1000, "a code that cannot be sent closes with 1000");
    let mut checked = server.ws("/checked");
    checked.send("through");
    assert_eq!(checked.recv_text(), "through");
    let mut blocked = server.ws("/blocked");
    assert_eq!(blocked.expect_close(), 1000, "IpBlackList closes a blocked address at once");
    let mut last = server.ws("/moody");
    last.send("last words");
    assert_eq!(last.recv_text(), "going down", "what a hook sent before exit() still goes out");
}

const TUTORIAL_ERRORS: &str = r#"<?php
require __DIR__ . '/vendor/autoload.php';

use Ratchet\ConnectionInterface;
use Ratchet\MessageComponentInterface;
use Ratchet\RFC6455\Messaging\Frame;

class Chat implements MessageComponentInterface {
    public function onOpen(ConnectionInterface $conn) {}
    public function onMessage(ConnectionInterface $from, $msg) {
        if ($msg === 'frame') {
            $from->send(new Frame("\x01\x02\xff", true, Frame::OP_BINARY));
            $from->send(new Frame('as text', true, Frame::OP_TEXT));
            return;
        }
        $from->send("marker");
    }
    public function onClose(ConnectionInterface $conn) {
        $conn->close(); // some course code does this too
    }
    public function onError(ConnectionInterface $conn, \Exception $e) {
        // The tutorial's onError.
        $conn->send('error: ' . $e->getMessage());
        $conn->close();
    }
}

$server = Ratchet\Server\IoServer::factory(new Ratchet\Http\HttpServer(new Ratchet\WebSocket\WsServer(new Chat())), 8080);
$server->run();
"#;

#[test]
fn a_binary_frame_goes_out_binary_and_the_tutorials_on_error_close_is_quiet() {
    if !php_available() {
        return;
    }
    let dir = project("ratchet-errors", &[("server.php", TUTORIAL_ERRORS)]);
    let data = TempDir::new("ratchet-errors-data");
    let app = format!("/x=php '{}'", dir.path().join("server.php").display());
    let mut child = support::Child::start(&["--app", &app, "--data", data.path().to_str().unwrap()]);
    let mut a = support::Ws::connect(child.addr(), "/x");
    a.send("frame");
    assert_eq!(a.recv(), tungstenite::Message::binary(vec![1u8, 2, 255]));
    assert_eq!(a.recv_text(), "as text");
    // A client that breaks the protocol: its onError sends and closes, its
    // onClose closes again; the server closed it already, so nothing of
    // that is a "command for an unknown client".
    let mut bad = support::raw_ws(child.addr(), "/x");
    std::io::Write::write_all(&mut bad, &support::client_frame(1, &[0xff, 0xfe])).unwrap();
    let close =
        std::iter::from_fn(|| support::read_frame(&mut bad)).find(|f| f.opcode == 8).expect("a close");
    assert_eq!(&close.payload[..2], &1007u16.to_be_bytes());
    // The child heard of it (error, close) before this client opened: its
    // answer comes after whatever it wrote for the broken one.
    let mut b = support::Ws::connect(child.addr(), "/x");
    b.send("after");
    assert_eq!(b.recv_text(), "marker");
    b.close();
    child.wait_line("closed: /x (1005)");
    let log = child.log_now().join("\n");
    assert!(log.contains("invalid UTF-8"), "{log}");
    assert!(!log.contains("unknown client"), "{log}");
}

#[test]
fn wslab_ratchet_makes_a_new_projects_folder_as_composer_would() {
    let dir = TempDir::new("ratchet-new");
    let project = dir.path().join("new-project");
    let out = Command::new(env!("CARGO_BIN_EXE_wslab")).arg("ratchet").arg(&project).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(project.join("vendor/autoload.php").is_file());
    // A file where the folder should be is still refused, in one line.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wslab")).arg("ratchet").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a folder"));
}
