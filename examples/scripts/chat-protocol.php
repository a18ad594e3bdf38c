<?php
// The /ws/chat protocol of docs/protocol.md ("/ws/chat": login, welcome with
// users and history, join, leave, rename, chat, users, errors) as a Ratchet
// app, so that www/chat.html works against it:
//
//     ./target/release/wslab ratchet examples/scripts
//     make run PORT=8123 ARGS="--app /ws/chat='php examples/scripts/chat-protocol.php'"
//
// and open http://labhost:8123/chat.html. wslab's own chat app answers
// /ws/chat otherwise; this script replaces it there. Two differences remain,
// both Ratchet's and PHP's: a Ratchet component gets binary messages as
// plain strings, so a binary `{"type":"users"}` is answered like a text one
// (the built-in app says `bad_json`), and json_decode refuses a lone
// surrogate escape ("\ud83d", half an emoji) that the built-in app reads
// as U+FFFD.
require __DIR__ . '/vendor/autoload.php';

use Ratchet\ConnectionInterface;
use Ratchet\MessageComponentInterface;

class ChatProtocol implements MessageComponentInterface
{
    const MAX_NAME = 32;
    const MAX_TEXT = 2000;
    const HISTORY = 50;

    private $clients;
    private $names = [];    // resourceId => name (logged in only)
    private $history = [];  // the last 50 chat messages, as broadcast

    public function __construct()
    {
        $this->clients = new \SplObjectStorage;
    }

    private static function out(array $message)
    {
        return json_encode($message, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES);
    }

    private static function chars($s)
    {
        return preg_match_all('/./us', $s);
    }

    private function error(ConnectionInterface $conn, $code, $message)
    {
        $conn->send(self::out(['type' => 'error', 'code' => $code, 'message' => $message]));
    }

    private function users()
    {
        $users = array_values($this->names);
        sort($users, SORT_STRING);
        return $users;
    }

    private function toLoggedIn($text)
    {
        foreach ($this->clients as $client) {
            if (isset($this->names[$client->resourceId])) {
                $client->send($text);
            }
        }
    }

    public function onOpen(ConnectionInterface $conn)
    {
        $this->clients->attach($conn);
    }

    /** Logs in or renames; false when the name was refused. */
    private function login(ConnectionInterface $conn, $user)
    {
        if (!is_string($user)) {
            $this->error($conn, 'bad_name', '"user" must be a string: your name, 1 to 32 characters');
            return false;
        }
        $name = trim($user, " \t\n\r\0\x0B");
        $n = self::chars($name);
        if ($n === 0) {
            $this->error($conn, 'bad_name', 'the name is empty (spaces around it do not count)');
            return false;
        }
        if ($n > self::MAX_NAME) {
            $this->error($conn, 'bad_name', "the name is $n characters long; at most 32 are allowed");
            return false;
        }
        $id = $conn->resourceId;
        $current = $this->names[$id] ?? null;
        if ($current === $name) {
            $conn->send($this->welcome($name));
            return true;
        }
        if (in_array($name, $this->names, true)) {
            $this->error($conn, 'name_taken', "the name \"$name\" is taken: pick another one");
            return false;
        }
        $this->names[$id] = $name;
        if ($current !== null) {
            $this->toLoggedIn(self::out(['type' => 'rename', 'from' => $current, 'to' => $name]));
        } else {
            $conn->send($this->welcome($name));
            $join = self::out(['type' => 'join', 'user' => $name]);
            foreach ($this->clients as $client) {
                if ($client !== $conn && isset($this->names[$client->resourceId])) {
                    $client->send($join);
                }
            }
        }
        return true;
    }

    private function welcome($name)
    {
        return self::out(['type' => 'welcome', 'user' => $name, 'users' => $this->users(), 'history' => $this->history]);
    }

    public function onMessage(ConnectionInterface $from, $msg)
    {
        $message = json_decode($msg, true);
        if (!preg_match('//u', $msg) || !is_array($message) || array_is_list($message) && $message !== []) {
            return $this->error($from, 'bad_json', 'the message must be a JSON object with a "type"');
        }
        $type = $message['type'] ?? null;
        if (!is_string($type)) {
            return $this->error($from, 'unknown_type', 'the message has no "type": use login, chat or users');
        }
        switch ($type) {
            case 'login':
                $this->login($from, $message['user'] ?? null);
                return;
            case 'users':
                $from->send(self::out(['type' => 'users', 'users' => $this->users()]));
                return;
            case 'chat':
                break;
            default:
                return $this->error($from, 'unknown_type', "unknown type \"$type\": use login, chat or users");
        }
        if (!isset($this->names[$from->resourceId])) {
            if (!isset($message['user'])) {
                return $this->error($from, 'not_logged_in', 'log in first with {"type":"login","user":"your name"}');
            }
            if (!$this->login($from, $message['user'])) {
                return;
            }
        }
        $text = $message['text'] ?? null;
        if ($text === null) {
            return $this->error($from, 'empty', 'the message has no "text"');
        }
        if (!is_string($text)) {
            return $this->error($from, 'bad_json', '"text" must be a string');
        }
        if (trim($text) === '') {
            return $this->error($from, 'empty', 'the text is empty');
        }
        $n = self::chars($text);
        if ($n > self::MAX_TEXT) {
            return $this->error($from, 'too_long', "the text is $n characters long; at most 2000 are allowed");
        }
        $line = ['type' => 'chat', 'user' => $this->names[$from->resourceId], 'text' => $text,
            'ts' => (int) floor(microtime(true) * 1000)];
        $this->history[] = $line;
        $this->history = array_slice($this->history, -self::HISTORY);
        $this->toLoggedIn(self::out($line));
    }

    public function onClose(ConnectionInterface $conn)
    {
        $this->clients->detach($conn);
        $name = $this->names[$conn->resourceId] ?? null;
        unset($this->names[$conn->resourceId]);
        if ($name !== null) {
            $this->toLoggedIn(self::out(['type' => 'leave', 'user' => $name]));
        }
    }

    public function onError(ConnectionInterface $conn, \Exception $e)
    {
        echo "chat-protocol: {$e->getMessage()}\n";
        $conn->close();
    }
}

$server = Ratchet\Server\IoServer::factory(
    new Ratchet\Http\HttpServer(new Ratchet\WebSocket\WsServer(new ChatProtocol())),
    8080
);
$server->run();
