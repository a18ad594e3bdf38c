<?php
// The course's chat exercise in plain Ratchet style: every message goes to
// all the other clients, with the sender's name, kept on the connection.
// Written against Ratchet 0.4; on wslab it runs unchanged:
//
//     ./target/release/wslab ratchet examples/scripts
//     make run PORT=8123 ARGS="--app /chat='php examples/scripts/chat.php'"
//
// then `new WebSocket('ws://' + location.host + '/chat?name=Ann')` in a
// browser console. `/name Bob` renames.
require __DIR__ . '/vendor/autoload.php';

use Ratchet\ConnectionInterface;
use Ratchet\Http\HttpServer;
use Ratchet\MessageComponentInterface;
use Ratchet\Server\IoServer;
use Ratchet\WebSocket\WsServer;

class Chat implements MessageComponentInterface
{
    protected $clients;

    public function __construct()
    {
        $this->clients = new \SplObjectStorage;
    }

    public function onOpen(ConnectionInterface $conn)
    {
        parse_str($conn->httpRequest->getUri()->getQuery(), $query);
        $conn->name = $query['name'] ?? "guest{$conn->resourceId}";
        $this->clients->attach($conn);
        echo "New connection! ({$conn->resourceId}) from {$conn->remoteAddress} as {$conn->name}\n";
        foreach ($this->clients as $client) {
            if ($client !== $conn) {
                $client->send("{$conn->name} joined");
            }
        }
        $conn->send("welcome, {$conn->name}");
    }

    public function onMessage(ConnectionInterface $from, $msg)
    {
        if (strpos($msg, '/name ') === 0) {
            $old = $from->name;
            $from->name = trim(substr($msg, 6)) ?: $old;
            foreach ($this->clients as $client) {
                $client->send("$old is now {$from->name}");
            }
            return;
        }
        foreach ($this->clients as $client) {
            if ($from !== $client) {
                $client->send("{$from->name}: $msg");
            }
        }
    }

    public function onClose(ConnectionInterface $conn)
    {
        $this->clients->detach($conn);
        echo "Connection {$conn->resourceId} has disconnected\n";
        foreach ($this->clients as $client) {
            $client->send("{$conn->name} left");
        }
    }

    public function onError(ConnectionInterface $conn, \Exception $e)
    {
        echo "An error has occurred: {$e->getMessage()}\n";
        $conn->close();
    }
}

$server = IoServer::factory(new HttpServer(new WsServer(new Chat())), 8080);
$server->run();
