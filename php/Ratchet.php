<?php
// Ratchet 0.4 for wslab: the classes a course's Ratchet server is written
// against, running as a wslab script app (docs/scripts.md). wslab owns the
// port and the WebSocket protocol; this file turns its JSON lines into the
// calls Ratchet makes (onOpen, onMessage, onClose, onError) and the
// connections' send() and close() into command lines.
//
// `wslab ratchet DIR` copies this file to DIR/vendor/wslab/Ratchet.php and
// writes DIR/vendor/autoload.php, which loads it and the PSR-4 autoload
// map of DIR/composer.json.

namespace {
    // The protocol owns standard output: PHP's own notices and what the app
    // echoes go to standard error, which wslab logs line by line.
    ini_set('display_errors', 'stderr');
    ini_set('log_errors', '0');
    error_reporting(E_ALL);
    ob_start(function ($text) {
        if ($text !== '') {
            fwrite(STDERR, $text);
        }
        return '';
    }, 1);
}

namespace Ratchet {
    const VERSION = 'Ratchet/0.4.4';

    interface ConnectionInterface
    {
        function send($data);
        function close();
    }

    interface ComponentInterface
    {
        function onOpen(ConnectionInterface $conn);
        function onClose(ConnectionInterface $conn);
        function onError(ConnectionInterface $conn, \Exception $e);
    }

    interface MessageInterface
    {
        function onMessage(ConnectionInterface $from, $msg);
    }

    interface MessageComponentInterface extends ComponentInterface, MessageInterface
    {
    }

    /** Ratchet\App: routes matched on the client's path. */
    class App
    {
        /** @var array<string, ComponentInterface> */
        public $routes = [];

        public function __construct($httpHost = 'localhost', $port = 8080, $address = '127.0.0.1', $loop = null, $context = [])
        {
            \Wslab\Runtime::ignoredPort($port, $address);
        }

        public function route($path, ComponentInterface $controller, array $allowedOrigins = [], $httpHost = null)
        {
            $this->routes[$path] = $controller;
            return $controller;
        }

        public function run()
        {
            \Wslab\Runtime::run($this->routes);
        }
    }
}

namespace React\EventLoop {
    /** React's loop interface, for code that declares it as a type. */
    interface LoopInterface
    {
    }

    /** React's timer interface, for code that declares it as a type. */
    interface TimerInterface
    {
    }

    /** `Factory::create()` (react/event-loop before 1.2): wslab's one loop. */
    final class Factory
    {
        public static function create()
        {
            return \Wslab\Loop::get();
        }
    }

    /** `Loop::get()` and its static calls (react/event-loop 1.2 and later). */
    final class Loop
    {
        public static function get()
        {
            return \Wslab\Loop::get();
        }

        public static function __callStatic($name, $arguments)
        {
            return \Wslab\Loop::get()->$name(...$arguments);
        }
    }
}

namespace React\Socket {
    /** The listening socket of `new IoServer($app, $socket, $loop)`: wslab owns the port. */
    class Server
    {
        public function __construct($uri = '', $loop = null, array $context = [])
        {
            fwrite(STDERR, "wslab: the socket this script asks for ($uri) is ignored; wslab owns the port\n");
        }
    }

    /** react/socket 1.9's name for it. */
    class SocketServer extends Server
    {
    }
}

namespace Ratchet\Server {
    use Ratchet\ConnectionInterface;
    use Ratchet\MessageComponentInterface;

    class IoServer
    {
        public $app;
        /** @var \Wslab\Loop timers, as on React's loop (`$server->loop->addPeriodicTimer(...)`) */
        public $loop;

        public function __construct($app, $socket = null, $loop = null)
        {
            $this->app = $app;
            $this->loop = \Wslab\Loop::get();
            // `new IoServer($app, $socket, $loop)` then `$loop->run()` runs it.
            $this->loop->server = $this;
        }

        public static function factory($component, $port = 80, $address = '0.0.0.0')
        {
            \Wslab\Runtime::ignoredPort($port, $address);
            return new static($component);
        }

        public function run()
        {
            \Wslab\Runtime::run(['' => $this->app]);
        }
    }

    /** Ratchet's IpBlackList: clients from a blocked address are closed at once. */
    class IpBlackList implements MessageComponentInterface
    {
        protected $_blacklist = [];
        protected $_decorating;

        public function __construct(MessageComponentInterface $component)
        {
            $this->_decorating = $component;
        }

        public function blockAddress($ip) { $this->_blacklist[$ip] = true; return $this; }
        public function unblockAddress($ip) { unset($this->_blacklist[$this->filterAddress($ip)]); return $this; }
        public function isBlocked($address) { return isset($this->_blacklist[$this->filterAddress($address)]); }
        public function getBlockedAddresses() { return array_keys($this->_blacklist); }

        public function filterAddress($address)
        {
            if (strstr($address, ':') && substr_count($address, '.') == 3) {
                [$address] = explode(':', $address);
            }
            return $address;
        }

        public function onOpen(ConnectionInterface $conn)
        {
            if ($this->isBlocked($conn->remoteAddress)) {
                return $conn->close();
            }
            return $this->_decorating->onOpen($conn);
        }

        public function onMessage(ConnectionInterface $from, $msg)
        {
            return $this->_decorating->onMessage($from, $msg);
        }

        public function onClose(ConnectionInterface $conn)
        {
            if (!$this->isBlocked($conn->remoteAddress)) {
                $this->_decorating->onClose($conn);
            }
        }

        public function onError(ConnectionInterface $conn, \Exception $e)
        {
            if (!$this->isBlocked($conn->remoteAddress)) {
                $this->_decorating->onError($conn, $e);
            }
        }
    }

    /** Ratchet's EchoServer: every message back to its sender (as text). */
    class EchoServer implements MessageComponentInterface
    {
        public function onOpen(ConnectionInterface $conn)
        {
        }

        public function onMessage(ConnectionInterface $from, $msg)
        {
            $from->send($msg);
        }

        public function onClose(ConnectionInterface $conn)
        {
        }

        public function onError(ConnectionInterface $conn, \Exception $e)
        {
            $conn->close();
        }
    }
}

namespace Wslab {
    use Ratchet\ConnectionInterface;

    /**
     * What Ratchet's decorators (HttpServer, WsServer, OriginCheck) are
     * here: components that hand every hook to the one they wrap, so that
     * they are components wherever Ratchet takes one (`App::route`).
     */
    abstract class Decorator implements \Ratchet\MessageComponentInterface
    {
        /** The wrapped component. */
        abstract public function inner();

        public function onOpen(ConnectionInterface $conn) { $this->inner()->onOpen($conn); }
        public function onMessage(ConnectionInterface $from, $msg) { $this->inner()->onMessage($from, $msg); }
        public function onClose(ConnectionInterface $conn) { $this->inner()->onClose($conn); }
        public function onError(ConnectionInterface $conn, \Exception $e) { $this->inner()->onError($conn, $e); }
    }
}

namespace Ratchet\Http {
    class HttpServer extends \Wslab\Decorator
    {
        public $_httpServer;

        public function __construct($component)
        {
            $this->_httpServer = $component;
        }

        public function inner() { return $this->_httpServer; }
    }

    /** Ratchet's Origin check: wslab's `--allow-origin` does it, before the upgrade (403). */
    class OriginCheck extends \Wslab\Decorator
    {
        public $allowedOrigins = [];
        protected $_component;

        public function __construct($component, array $allowed = [])
        {
            $this->_component = $component;
            $this->allowedOrigins = $allowed;
            fwrite(STDERR, "wslab: OriginCheck does not check here; start wslab with --allow-origin instead\n");
        }

        public function inner() { return $this->_component; }
    }
}

namespace Ratchet\RFC6455\Messaging {
    /** A WebSocket frame of ratchet/rfc6455, as course code builds one to send binary: new Frame($bytes, true, Frame::OP_BINARY). */
    class Frame
    {
        const OP_CONTINUE = 0;
        const OP_TEXT = 1;
        const OP_BINARY = 2;
        const OP_CLOSE = 8;
        const OP_PING = 9;
        const OP_PONG = 10;

        /** @var string */
        private $payload;
        /** @var bool */
        private $final;
        /** @var int */
        private $opcode;

        public function __construct($payload = null, $final = true, $opcode = 1)
        {
            $this->payload = (string) $payload;
            $this->final = (bool) $final;
            $this->opcode = (int) $opcode;
        }

        public function getPayload() { return $this->payload; }
        public function getContents() { return $this->payload; }
        public function getOpcode() { return $this->opcode; }
        public function isFinal() { return $this->final; }
        public function getPayloadLength() { return strlen($this->payload); }
    }
}

namespace Ratchet\WebSocket {
    /** A component that names the subprotocols it speaks (wslab does not negotiate them). */
    interface WsServerInterface
    {
        function getSubProtocols();
    }

    class WsServer extends \Wslab\Decorator
    {
        public $component;

        public function __construct($component)
        {
            $this->component = $component;
        }

        public function inner() { return $this->component; }

        public function enableKeepAlive($loop, $interval = 30)
        {
            // wslab pings every client itself (--ping-interval).
        }
    }
}

namespace Wslab {
    use Ratchet\ComponentInterface;

    /** The URI of the request that opened a connection. */
    class Uri
    {
        private $path;
        private $query;

        public function __construct($path, $query)
        {
            $this->path = $path;
            $this->query = $query;
        }

        public function getPath() { return $this->path; }
        public function getQuery() { return $this->query; }
        public function getScheme() { return 'ws'; }
        public function __toString() { return $this->path . ($this->query === '' ? '' : '?' . $this->query); }
    }

    /** `$conn->httpRequest`: the upgrade request, PSR-7 style. */
    class Request
    {
        private $uri;
        private $headers;

        public function __construct(Uri $uri, array $headers)
        {
            $this->uri = $uri;
            $this->headers = [];
            foreach ($headers as $name => $value) {
                $this->headers[strtolower($name)] = [$name, $value];
            }
        }

        public function getUri() { return $this->uri; }
        public function getPath() { return $this->uri->getPath(); }
        public function getQuery() { return $this->uri->getQuery(); }
        public function getMethod() { return 'GET'; }
        public function hasHeader($name) { return isset($this->headers[strtolower($name)]); }
        public function getHeader($name)
        {
            $h = $this->headers[strtolower($name)] ?? null;
            return $h === null ? [] : [$h[1]];
        }
        public function getHeaderLine($name) { return implode(', ', $this->getHeader($name)); }
        public function getHeaders()
        {
            $all = [];
            foreach ($this->headers as $h) {
                $all[$h[0]] = [$h[1]];
            }
            return $all;
        }
    }

    /** One client, one object for its whole life (so SplObjectStorage and === work). */
    #[\AllowDynamicProperties]
    class Connection implements \Ratchet\ConnectionInterface
    {
        /** @var int */
        public $resourceId;
        /** @var string the peer's host, no port */
        public $remoteAddress;
        /** @var Request */
        public $httpRequest;
        /** @var bool */
        private $closed = false;

        public function __construct($id, $remoteAddress, Request $request)
        {
            $this->resourceId = $id;
            $this->remoteAddress = $remoteAddress;
            $this->httpRequest = $request;
        }

        public function send($data)
        {
            // The hot path of every broadcast loop: a send of the same
            // string as the one before only adds this id to its group.
            if ($this->closed) {
                return $this;
            }
            if ($data instanceof \Ratchet\RFC6455\Messaging\Frame) {
                return $this->sendFrame($data);
            }
            if ($data === Runtime::$data) {
                Runtime::$ids[] = $this->resourceId;
            } else {
                Runtime::group($this->resourceId, (string) $data);
            }
            return $this;
        }

        /** A Frame of ratchet/rfc6455: text or binary as its opcode says (control frames are wslab's). */
        private function sendFrame(\Ratchet\RFC6455\Messaging\Frame $frame)
        {
            $payload = (string) $frame->getPayload();
            switch ($frame->getOpcode()) {
                case \Ratchet\RFC6455\Messaging\Frame::OP_BINARY:
                    Runtime::flush();
                    Runtime::write(['type' => 'send', 'to' => [$this->resourceId], 'binary' => base64_encode($payload)]);
                    break;
                case \Ratchet\RFC6455\Messaging\Frame::OP_TEXT:
                    Runtime::group($this->resourceId, $payload);
                    break;
                case \Ratchet\RFC6455\Messaging\Frame::OP_CLOSE:
                    $this->close(strlen($payload) >= 2 ? unpack('n', $payload)[1] : 1000);
                    break;
                default:
                    // Pings, pongs and continuations: wslab frames and answers those itself.
                    break;
            }
            return $this;
        }

        /** wslab: the client is gone (or going: the server closes it); later send() and close() do nothing, as in Ratchet. */
        public function markGone()
        {
            $this->closed = true;
        }

        public function close($code = 1000)
        {
            if (!$this->closed) {
                $this->closed = true;
                $code = (int) $code;
                if (!(($code >= 1000 && $code <= 1003) || ($code >= 1007 && $code <= 1011) || ($code >= 3000 && $code <= 4999))) {
                    fwrite(STDERR, "wslab: close code $code cannot be sent (RFC 6455); closing client {$this->resourceId} with 1000\n");
                    $code = 1000;
                }
                Runtime::flush();
                Runtime::write(['type' => 'close', 'id' => $this->resourceId, 'code' => $code]);
            }
        }
    }

    /** A timer of the loop, as React's. */
    final class Timer implements \React\EventLoop\TimerInterface
    {
        /** @var float seconds */
        private $interval;
        /** @var callable */
        private $callback;
        /** @var bool */
        private $periodic;
        /** @var float when it is due next (microtime) */
        public $due;

        public function __construct($interval, callable $callback, $periodic)
        {
            $this->interval = max(0.0, (float) $interval);
            $this->callback = $callback;
            $this->periodic = $periodic;
            $this->due = microtime(true) + $this->interval;
        }

        public function getInterval() { return $this->interval; }
        public function getCallback() { return $this->callback; }
        public function isPeriodic() { return $this->periodic; }
    }

    /**
     * The timers of React's event loop (`addTimer`, `addPeriodicTimer`,
     * `cancelTimer`, `futureTick`), run between wslab's events by
     * Runtime::run. One loop per process, as `Loop::get()` has it.
     */
    final class Loop implements \React\EventLoop\LoopInterface
    {
        /** @var Loop|null */
        private static $loop;
        /** @var array<int, Timer> by spl_object_id */
        private $timers = [];
        /** @var list<callable> */
        private $ticks = [];
        /** @var bool `stop()` was called: the runtime ends */
        public $stopped = false;
        /** @var \Ratchet\Server\IoServer|null the server `run()` starts */
        public $server;

        public static function get()
        {
            return self::$loop ?? (self::$loop = new self());
        }

        public function addTimer($interval, $callback)
        {
            $timer = new Timer($interval, $callback, false);
            $this->timers[spl_object_id($timer)] = $timer;
            return $timer;
        }

        public function addPeriodicTimer($interval, $callback)
        {
            $timer = new Timer($interval, $callback, true);
            $this->timers[spl_object_id($timer)] = $timer;
            return $timer;
        }

        public function cancelTimer(\React\EventLoop\TimerInterface $timer)
        {
            unset($this->timers[spl_object_id($timer)]);
        }

        public function futureTick($listener)
        {
            $this->ticks[] = $listener;
        }

        /** `$loop->run()`: runs the server made with `new IoServer(...)`. */
        public function run()
        {
            if ($this->server !== null) {
                $this->server->run();
            } else {
                Runtime::run([]);
            }
        }

        public function stop()
        {
            $this->stopped = true;
        }

        /** Whether there are timers or ticks to wait for. */
        public function busy()
        {
            return $this->timers !== [] || $this->ticks !== [];
        }

        /** Seconds until the next timer is due (0: something is due now; null: nothing to wait for). */
        public function wait()
        {
            if ($this->ticks !== []) {
                return 0.0;
            }
            $next = null;
            foreach ($this->timers as $timer) {
                $next = $next === null ? $timer->due : min($next, $timer->due);
            }
            return $next === null ? null : max(0.0, $next - microtime(true));
        }

        /** Runs the ticks queued so far and the timers that are due. */
        public function runDue()
        {
            $ticks = $this->ticks;
            $this->ticks = [];
            foreach ($ticks as $tick) {
                Runtime::callback('futureTick', $tick, []);
            }
            $now = microtime(true);
            foreach ($this->timers as $id => $timer) {
                if ($timer->due > $now || !isset($this->timers[$id])) {
                    continue;
                }
                if ($timer->isPeriodic()) {
                    $timer->due = $now + $timer->getInterval();
                } else {
                    unset($this->timers[$id]);
                }
                Runtime::callback('timer', $timer->getCallback(), [$timer]);
            }
        }
    }

    /** The loop: wslab's lines in, Ratchet's calls out. */
    class Runtime
    {
        /** @var array<int, array{0: Connection, 1: ComponentInterface}> */
        private static $conns = [];
        /** @var list<array{0: list<int>, 1: string}> groups of this hook before the open one */
        private static $pending = [];
        /** @var string|\stdClass the open group's message, or $none: no send's argument is === it */
        public static $data;
        /** @var \stdClass what $data is while no group is open */
        private static $none;
        /** @var list<int> the open group's client ids */
        public static $ids = [];

        public static function ignoredPort($port, $address)
        {
            fwrite(STDERR, "wslab: the port and address this script asks for ($address:$port) are ignored; wslab owns the port\n");
        }

        /** @var string command lines not yet written to wslab */
        private static $out = '';
        /** Bytes of command lines written at once at most (between reads of STDIN) */
        const OUT_MAX = 16384;

        public static function write(array $command)
        {
            $line = json_encode($command, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE);
            self::$out .= $line . "\n";
        }

        /** Hands wslab the command lines of the events handled so far, in one write. */
        public static function send_out()
        {
            if (self::$out !== '') {
                // The newline first ends whatever the app wrote to STDOUT itself
                // (fwrite(STDOUT, ...) with no newline): it becomes a line of its
                // own, which wslab logs, instead of spoiling the first command.
                fwrite(STDOUT, "\n" . self::$out);
                fflush(STDOUT);
                self::$out = '';
            }
        }

        /**
         * Opens a group for a send of another message than the open one's:
         * consecutive sends of one message, a foreach over 100 clients,
         * become one line.
         */
        public static function group($id, $data)
        {
            if ($data === self::$data) { // the same text, not the same type: send(42) twice
                self::$ids[] = $id;
                return;
            }
            if (self::$ids !== []) {
                self::$pending[] = [self::$ids, self::$data];
            }
            self::$ids = [$id];
            self::$data = $data;
        }

        /** Writes the sends of this hook as command lines. */
        public static function flush()
        {
            if (self::$ids !== []) {
                self::$pending[] = [self::$ids, self::$data];
                self::$ids = [];
                self::$data = self::$none;
            }
            foreach (self::$pending as [$ids, $data]) {
                $command = ['type' => 'send', 'to' => $ids];
                if (preg_match('//u', $data)) {
                    $command['text'] = $data;
                } else {
                    // Not UTF-8: as binary, not as a text frame a browser would refuse.
                    $command['binary'] = base64_encode($data);
                }
                self::write($command);
            }
            self::$pending = [];
        }

        /** Unwraps HttpServer, WsServer and OriginCheck down to the app's component. */
        private static function component($app)
        {
            while ($app instanceof Decorator) {
                $app = $app->inner();
            }
            return $app;
        }

        /** Runs one hook as Ratchet does: an \Exception goes to onError. */
        private static function hook(ComponentInterface $component, Connection $conn, callable $call)
        {
            try {
                $call();
            } catch (\Exception $e) {
                try {
                    $component->onError($conn, $e);
                } catch (\Throwable $again) {
                    fwrite(STDERR, "onError threw: " . $again . "\n");
                }
            } catch (\Throwable $e) {
                // Ratchet would die here; the other clients deserve better.
                // A warning in wslab's log (stderr lines are info), then the whole trace on stderr.
                self::flush();
                self::write(['type' => 'log', 'level' => 'warn', 'message' => "uncaught " . get_class($e)
                    . " for client {$conn->resourceId}, closed with 1011: {$e->getMessage()} in {$e->getFile()}:{$e->getLine()}"]);
                fwrite(STDERR, "uncaught " . get_class($e) . " for client {$conn->resourceId}: $e\n");
                $conn->close(1011);
            }
            self::flush();
        }

        /** @param array<string, mixed> $routes path => component ('' matches every path) */
        public static function run(array $routes)
        {
            $components = [];
            foreach ($routes as $path => $app) {
                $components[$path] = self::component($app);
            }
            self::$none = self::$data = new \stdClass();
            self::write(['type' => 'hello', 'version' => 1]);
            self::send_out();
            // A hook that calls exit(): what it sent still goes out.
            register_shutdown_function(function () {
                self::flush();
                self::send_out();
            });
            $loop = Loop::get();
            while (!$loop->stopped) {
                if ($loop->busy()) {
                    $loop->runDue();
                    if (!self::wait_for_input($loop)) {
                        continue; // a timer is due first
                    }
                }
                if (($line = fgets(STDIN)) === false) {
                    break;
                }
                self::event($line, $components);
                // While more events are already read in, their answers go
                // out together: one write (and one wake-up of wslab) for
                // many; but not more than OUT_MAX at once, so that wslab
                // sends the first ones while php works on the rest.
                if (strlen(self::$out) >= self::OUT_MAX || stream_get_meta_data(STDIN)['unread_bytes'] === 0) {
                    self::send_out();
                }
            }
            self::send_out();
        }

        /**
         * With timers waiting: whether a line can be read before the next
         * one is due (false: run the timers first).
         */
        private static function wait_for_input(Loop $loop)
        {
            if (stream_get_meta_data(STDIN)['unread_bytes'] > 0) {
                return true;
            }
            self::send_out();
            $wait = $loop->wait();
            if ($wait === null) {
                return true;
            }
            $read = [STDIN];
            $write = $except = null;
            $seconds = (int) $wait;
            return @stream_select($read, $write, $except, $seconds, (int) (($wait - $seconds) * 1e6)) > 0;
        }

        /** Runs a timer's or tick's callback; what it sends goes out with it. */
        public static function callback($what, callable $callback, array $arguments)
        {
            try {
                $callback(...$arguments);
            } catch (\Throwable $e) {
                // React would end the loop; the clients deserve better.
                fwrite(STDERR, "a $what callback threw " . get_class($e) . ": $e\n");
            }
            self::flush();
        }

        /** Handles one event line. */
        private static function event($line, array $components)
        {
            {
                $event = json_decode($line, true);
                if (!is_array($event) || !isset($event['type'])) {
                    fwrite(STDERR, "wslab: a line that is not an event: " . substr($line, 0, 200) . "\n");
                    return;
                }
                $id = $event['id'] ?? null;
                switch ($event['type']) {
                    case 'open':
                        $component = $components[$event['path']] ?? $components[''] ?? null;
                        $query = $event['query_string'] ?? null;
                        if (!is_string($query)) {
                            $pairs = [];
                            foreach ($event['query'] as [$k, $v]) {
                                $pairs[] = rawurlencode($k) . ($v === '' ? '' : '=' . rawurlencode($v));
                            }
                            $query = implode('&', $pairs);
                        }
                        $peer = $event['peer'];
                        $host = preg_replace('/^\[?(.*?)\]?:\d+$/', '$1', $peer);
                        $request = new Request(new Uri($event['path'], $query), (array) $event['headers']);
                        $conn = new Connection($id, $host, $request);
                        if ($component === null) {
                            fwrite(STDERR, "no route for {$event['path']}; closing client $id\n");
                            $conn->close(1008);
                            break;
                        }
                        self::$conns[$id] = [$conn, $component];
                        self::hook($component, $conn, function () use ($component, $conn) { $component->onOpen($conn); });
                        break;
                    case 'message':
                        if (!isset(self::$conns[$id])) {
                            break;
                        }
                        [$conn, $component] = self::$conns[$id];
                        $msg = isset($event['binary']) ? base64_decode($event['binary']) : $event['text'];
                        self::hook($component, $conn, function () use ($component, $conn, $msg) { $component->onMessage($conn, $msg); });
                        break;
                    case 'error':
                        if (isset(self::$conns[$id])) {
                            [$conn, $component] = self::$conns[$id];
                            // The server closes it (its close event follows): what
                            // onError sends or closes would reach nobody.
                            $conn->markGone();
                            self::hook($component, $conn, function () use ($component, $conn, $event) {
                                $component->onError($conn, new \Exception($event['error']));
                            });
                        }
                        break;
                    case 'close':
                        if (isset(self::$conns[$id])) {
                            [$conn, $component] = self::$conns[$id];
                            unset(self::$conns[$id]);
                            $conn->markGone();
                            self::hook($component, $conn, function () use ($component, $conn) { $component->onClose($conn); });
                        }
                        break;
                }
            }
        }
    }

    /** `vendor/autoload.php`'s second half: the project's own PSR-4 map. */
    class Autoload
    {
        public static function project($dir)
        {
            $file = $dir . '/composer.json';
            if (!is_file($file)) {
                return;
            }
            $composer = json_decode(file_get_contents($file), true);
            $map = $composer['autoload']['psr-4'] ?? [];
            spl_autoload_register(function ($class) use ($map, $dir) {
                foreach ($map as $prefix => $paths) {
                    if ($prefix !== '' && strncmp($class, $prefix, strlen($prefix)) !== 0) {
                        continue;
                    }
                    $rest = str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
                    foreach ((array) $paths as $path) {
                        $candidate = $dir . '/' . rtrim($path, '/') . '/' . $rest;
                        if (is_file($candidate)) {
                            require $candidate;
                            return;
                        }
                    }
                }
            });
            foreach ($composer['autoload']['files'] ?? [] as $path) {
                require_once $dir . '/' . $path;
            }
        }
    }
}
