<?php
// job.php: a long job that reports its progress to one relay page (wslab).
//
// Usage: php job.php UUID PORT [HOST] [--tls]     (HOST defaults to 127.0.0.1)
//
// --tls: the server runs with --tls-cert (make run-tls); its certificate is
// checked against certs/cert.pem (make cert's), or $WSLAB_CA if set, or the
// system's certificates when neither file exists.
//
// It talks to the server the way phpWebSocketServer's PHP client does: a
// plain TCP socket, the greeting "php process" and an empty line, then the
// server's "ready" line. Then each message is one JSON object written with
// no newline after it, and the script reads one reply line before it writes
// the next: {"opcode":"next",...} when it was delivered, or
// {"opcode":"error","message":"..."}.

$args = array_slice($argv, 1);
$tls = in_array('--tls', $args, true);
$args = array_values(array_filter($args, fn ($a) => $a !== '--tls'));
if (count($args) < 2) {
    fwrite(STDERR, "usage: php job.php UUID PORT [HOST] [--tls]\n");
    exit(2);
}
$uuid = $args[0];
$port = (int) $args[1];
$host = $args[2] ?? '127.0.0.1';

function fail(string $why): void
{
    fwrite(STDERR, "job.php: $why\n");
    exit(1);
}

// fwrite may write only part of what it is given: write the rest too.
function write_all($socket, string $bytes): void
{
    while ($bytes !== '') {
        $n = fwrite($socket, $bytes);
        if ($n === false || $n === 0) {
            fail('cannot write to the server');
        }
        $bytes = substr($bytes, $n);
    }
}

// One reply line from the server, as an array.
function read_reply($socket): array
{
    $line = fgets($socket);
    if ($line === false) {
        fail('no reply: the server closed the connection or did not answer');
    }
    echo "  <- " . rtrim($line) . "\n";
    $reply = json_decode($line, true);
    if (!is_array($reply)) {
        fail('the reply is not a JSON object');
    }
    return $reply;
}

echo "connecting to $host:$port" . ($tls ? ' over TLS' : '') . "\n";
$target = strpos($host, ':') === false ? $host : "[$host]"; // an IPv6 address goes in brackets
$ssl = ['peer_name' => $host];
$ca = getenv('WSLAB_CA') ?: 'certs/cert.pem';
if (is_file($ca)) {
    $ssl['cafile'] = $ca;
}
$context = stream_context_create(['ssl' => $ssl]);
$scheme = $tls ? 'ssl' : 'tcp';
$socket = @stream_socket_client("$scheme://$target:$port", $errno, $errstr, 5, STREAM_CLIENT_CONNECT, $context);
if ($socket === false) {
    fail("cannot connect to $host:$port: $errstr");
}
stream_set_timeout($socket, 10); // a reply that takes longer than 10 s is an error

echo "-> php process (the greeting)\n";
write_all($socket, "php process\n\n");
$ready = read_reply($socket);
if (($ready['opcode'] ?? '') !== 'ready') {
    fail('expected {"opcode":"ready"} after the greeting');
}

for ($step = 1; $step <= 10; $step++) {
    $json = json_encode([
        'opcode' => 'feedback',
        'uuid' => $uuid,
        'progress' => $step * 10,
        'message' => "step $step of 10",
    ]);
    echo "-> $json\n";
    write_all($socket, $json); // no newline after it, like phpWebSocketServer's client
    $reply = read_reply($socket);
    if (($reply['opcode'] ?? '') !== 'next') {
        fail('error reply: ' . ($reply['message'] ?? json_encode($reply)));
    }
    if ($step < 10) {
        usleep(200000); // the "work" of one step: 200 ms
    }
}

echo "-> {\"opcode\":\"quit\"}\n";
write_all($socket, json_encode(['opcode' => 'quit'])); // no reply: the server closes
fclose($socket);
echo "done: 10 feedback messages sent to $uuid\n";
