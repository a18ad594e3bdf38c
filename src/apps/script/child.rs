//! A script app's child process and the three threads around it: one feeds
//! its stdin from a bounded queue, one reads its stdout (commands, handed to
//! the app through its notifier), one copies its stderr to the log.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{ChildStdin, Command as Process, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use log::{debug, warn};

use super::lines::{self, Command};
use crate::app::Notifier;

/// Lines queued for the child's stdin; past it the client whose event does
/// not fit is closed with 1013. Close and error events always go in (one
/// or two per client, so the queue stays bounded).
pub const STDIN_QUEUE: usize = 1024;
/// The longest stderr line kept whole, and the least a command line may be.
const MAX_LINE: usize = 1 << 20;

/// The longest command line read from the child (longer ones are skipped):
/// one that carries a message of `max_message_size` bytes, whatever its
/// encoding (base64 is 4/3 of it, JSON escapes up to 6 bytes per byte).
pub fn max_command_line(max_message_size: usize) -> usize {
    max_message_size.saturating_mul(6).saturating_add(64 * 1024).max(MAX_LINE)
}
/// How many of the child's last stderr lines are kept for the exit report.
const STDERR_TAIL: usize = 10;
/// The threads only copy bytes.
const STACK: usize = 128 * 1024;
/// How long a child whose stdout ended may take to exit before it is killed.
const EOF_GRACE: Duration = Duration::from_secs(2);
/// The stdout thread's read buffer: the commands of one read are one batch.
const READ_BUFFER: usize = 64 * 1024;

/// What the child's threads tell the app (through its notifier).
#[derive(Debug)]
pub enum Note {
    /// Commands from child `generation` (those of one read, in order), each
    /// with its line while an inspector is open.
    Commands { generation: u64, commands: Vec<(Command, Option<String>)> },
    /// Child `generation` ended: its exit status and last stderr lines.
    Exited { generation: u64, status: String, tail: Vec<String> },
    /// Time to start the child again.
    Restart,
}

/// A running child.
pub struct Child {
    /// Lines for its stdin.
    stdin: Option<Sender<String>>,
    /// Its process id (for SIGTERM and SIGKILL at shutdown).
    pid: u32,
    /// Closed when it has exited.
    exited: Receiver<()>,
}

/// Splits a command line into words: spaces separate, single or double
/// quotes group (no other shell syntax).
pub fn words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut any = false;
    for c in command.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            (None, c) => word.push(c),
        }
    }
    if any || !word.is_empty() {
        words.push(word);
    }
    words
}

/// Why `program` cannot be started, if it cannot: missing, or not
/// executable (looked up in `PATH` when it has no `/`).
pub fn cannot_start(program: &str) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let executable =
        |p: &Path| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if program.contains('/') {
        let path = Path::new(program);
        return match path.metadata() {
            Err(e) => Some(format!("{program}: {e}")),
            Ok(_) if !executable(path) => Some(format!("{program}: not an executable file")),
            Ok(_) => None,
        };
    }
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| executable(&dir.join(program))))
        .unwrap_or(false);
    (!found).then(|| format!("{program}: command not found in PATH"))
}

impl Child {
    /// Starts `argv` in the current directory, with `PYTHONUNBUFFERED=1`,
    /// and its threads; `hello` is its first stdin line. While `tracing`
    /// holds, commands come with their lines (for the inspector).
    pub fn spawn(
        argv: &[String],
        name: &str,
        generation: u64,
        hello: String,
        notifier: Notifier,
        tracing: Arc<AtomicBool>,
        max_line: usize,
    ) -> std::io::Result<Child> {
        let mut process = Process::new(&argv[0])
            .args(&argv[1..])
            .env("PYTHONUNBUFFERED", "1")
            // A group of its own: a terminal's Ctrl-C goes to wslab, which
            // closes the clients (the child hears each close), then ends it.
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let pid = process.id();
        let (stdin_tx, stdin_rx) = unbounded::<String>();
        let _ = stdin_tx.send(hello);
        let stdin = process.stdin.take().expect("piped stdin");
        let stdout = process.stdout.take().expect("piped stdout");
        let stderr = process.stderr.take().expect("piped stderr");
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        // A thread that cannot start leaves the process to nobody: it is
        // killed, not left running.
        let spawn = |what: &str, f: Box<dyn FnOnce() + Send>| {
            thread::Builder::new().name(format!("{name} {what}")).stack_size(STACK).spawn(f).inspect_err(
                |_| {
                    let _ = Process::new("kill").arg("-KILL").arg(pid.to_string()).status();
                },
            )
        };
        spawn("stdin", Box::new(move || feed(stdin, &stdin_rx)))?;
        let err_thread = {
            let (tail, name) = (tail.clone(), name.to_string());
            spawn("stderr", Box::new(move || copy_stderr(stderr, &name, &tail)))?
        };
        let (exited_tx, exited) = bounded::<()>(0);
        let name = name.to_string();
        spawn(
            "stdout",
            Box::new(move || {
                read_commands(stdout, &name, generation, &notifier, &tracing, max_line);
                let status = ended(&mut process, &name);
                let _ = err_thread.join();
                let tail: Vec<String> =
                    tail.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect();
                drop(exited_tx);
                notifier.notify(Note::Exited { generation, status, tail });
            }),
        )?;
        Ok(Child { stdin: Some(stdin_tx), pid, exited })
    }

    /// Queues a line for the child's stdin; false when the child is gone,
    /// or when [`STDIN_QUEUE`] lines wait already (the child does not keep
    /// up) and the line is not one that must reach it (`must`: a close).
    pub fn send(&self, line: String, must: bool) -> bool {
        let Some(stdin) = self.stdin.as_ref() else { return false };
        (must || stdin.len() < STDIN_QUEUE) && stdin.send(line).is_ok()
    }

    /// Ends the child: EOF on its stdin, then SIGTERM after `grace`, then
    /// SIGKILL after `grace` again.
    pub fn stop(&mut self, grace: Duration) {
        self.stdin = None;
        if self.exited.recv_timeout(grace).is_ok() || self.wait_gone(grace / 4) {
            return;
        }
        for signal in ["-TERM", "-KILL"] {
            debug!("sending {signal} to script app process {}", self.pid);
            // To its group: what it started itself (a shell's children) ends with it.
            let _ = Process::new("kill").arg(signal).arg("--").arg(format!("-{}", self.pid)).status();
            if self.wait_gone(grace) {
                return;
            }
        }
        warn!("script app process {} did not end", self.pid);
    }

    fn wait_gone(&self, within: Duration) -> bool {
        // A closed channel means the stdout thread saw the exit.
        matches!(
            self.exited.recv_timeout(within),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) | Ok(())
        )
    }
}

/// The exit status of the child, whose stdout has ended. One that closed
/// its stdout but goes on running can never answer again: after
/// [`EOF_GRACE`] it is killed, so that the app restarts it.
fn ended(process: &mut std::process::Child, name: &str) -> String {
    let deadline = Instant::now() + EOF_GRACE;
    let status = loop {
        match process.try_wait() {
            Ok(Some(status)) => break Ok(status),
            // An ending child closes its stdout a moment before it can be
            // reaped: a short wait, in this one rare place.
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                warn!("{name}: the app closed its stdout but kept running; it can no longer answer, so it is ended");
                let _ = process.kill();
                break process.wait();
            }
            Err(e) => break Err(e),
        }
    };
    status.map_or_else(|e| format!("unknown ({e})"), |s| s.to_string())
}

/// Feeds the child's stdin: everything queued, then one flush.
fn feed(mut stdin: ChildStdin, lines: &Receiver<String>) {
    while let Ok(first) = lines.recv() {
        let mut batch = first;
        batch.push('\n');
        for line in lines.try_iter().take(STDIN_QUEUE) {
            batch.push_str(&line);
            batch.push('\n');
        }
        if stdin.write_all(batch.as_bytes()).and_then(|()| stdin.flush()).is_err() {
            return; // the child closed its stdin or ended
        }
    }
    // The app let go: EOF for the child.
}

/// Reads command lines (at most `max_line` bytes each) until the child's
/// stdout ends; bad lines are logged (cut to 200 bytes) and skipped. The
/// commands of one read go to the dispatcher together: one hand-off (and
/// at most one wake-up) for a batch.
fn read_commands(
    stdout: impl Read,
    name: &str,
    generation: u64,
    notifier: &Notifier,
    tracing: &AtomicBool,
    max_line: usize,
) {
    let mut reader = BufReader::with_capacity(READ_BUFFER, stdout);
    let mut line = Vec::new();
    let mut commands = Vec::new();
    loop {
        line.clear();
        match read_line(&mut reader, &mut line, max_line) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => {
                debug!("{name}: reading stdout: {e}");
                return;
            }
        }
        if line.len() > max_line {
            warn!("{name}: skipped a line of over {max_line} bytes on stdout (a message over --max-message-size)");
        } else {
            let text = String::from_utf8_lossy(&line);
            let text = text.trim();
            if !text.is_empty() {
                match lines::parse(text) {
                    Ok(command) => {
                        commands.push((command, tracing.load(Ordering::Relaxed).then(|| text.to_string())))
                    }
                    Err(why) => warn!("{name}: skipped a line on stdout: {why}: {}", lines::cut(text)),
                }
            }
        }
        // Hand over what is read once no whole line is left in the buffer:
        // the next one may be long in coming.
        if !commands.is_empty() && !reader.buffer().contains(&b'\n') {
            let batch = std::mem::take(&mut commands);
            if !notifier.notify(Note::Commands { generation, commands: batch }) {
                return;
            }
        }
    }
}

/// One line, without holding more than `max` bytes of it (the rest of a
/// longer line is read and dropped; the length says it was too long).
fn read_line(reader: &mut impl BufRead, out: &mut Vec<u8>, max: usize) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(total);
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let n = chunk.len();
        if out.len() <= max {
            out.extend_from_slice(&chunk[..n.min(max + 1 - out.len().min(max + 1))]);
        }
        total += n;
        reader.consume(n);
        if done {
            return Ok(total);
        }
    }
}

/// Copies the child's stderr to the log, line by line, keeping the last few.
fn copy_stderr(stderr: impl Read, name: &str, tail: &Mutex<VecDeque<String>>) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    while let Ok(n) = read_line(&mut reader, &mut line, MAX_LINE) {
        if n == 0 {
            return;
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        line.clear();
        log::info!("{name}: {}", lines::cut(&text));
        let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
        tail.push_back(text);
        if tail.len() > STDERR_TAIL {
            tail.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_split_into_words() {
        assert_eq!(words("php server.php"), ["php", "server.php"]);
        assert_eq!(
            words("  python3  'my chat.py' -x \"a b\" ''"),
            ["python3", "my chat.py", "-x", "a b", ""]
        );
        assert!(words("").is_empty());
    }

    #[test]
    fn programs_that_cannot_start_are_named() {
        assert!(cannot_start("sh").is_none());
        assert!(cannot_start("no-such-program-wslab").unwrap().contains("not found"));
        assert!(cannot_start("/no/such/file").is_some());
        assert!(cannot_start("/etc/passwd").unwrap().contains("not an executable"));
    }

    /// A stdout whose reads return `chunks` one by one; before each read it
    /// records how many batches the notifier had by then.
    struct Chunks {
        chunks: VecDeque<&'static [u8]>,
        batches: Arc<Mutex<Vec<Vec<Command>>>>,
        seen_before_read: Vec<usize>,
    }

    impl Read for Chunks {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.seen_before_read.push(self.batches.lock().unwrap().len());
            let Some(chunk) = self.chunks.pop_front() else { return Ok(0) };
            buf[..chunk.len()].copy_from_slice(chunk);
            Ok(chunk.len())
        }
    }

    #[test]
    fn the_commands_of_one_read_are_one_batch_and_never_wait_for_a_partial_line() {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let notifier = {
            let batches = batches.clone();
            Notifier::new(move |note| {
                let Ok(note) = note.downcast::<Note>() else { panic!("not a note") };
                let Note::Commands { generation: 7, commands } = *note else { panic!("not commands of 7") };
                let commands = commands.into_iter().map(|(command, line)| {
                    assert!(line.is_none(), "no lines while no inspector traces");
                    command
                });
                batches.lock().unwrap().push(commands.collect());
                true
            })
        };
        let mut stdout = Chunks {
            chunks: VecDeque::from([
                &b"{\"type\":\"send\",\"to\":1,\"text\":\"a\"}\nnot json\n\n{\"type\":\"send\",\"to\":[1,2],\"text\":\"b\"}\n{\"type\":"[..],
                &b"\"send\",\"to\":2,\"text\":\"c\"}\n"[..],
            ]),
            batches: batches.clone(),
            seen_before_read: Vec::new(),
        };
        read_commands(&mut stdout, "test", 7, &notifier, &AtomicBool::new(false), MAX_LINE);
        let send = |to: Vec<crate::app::ClientId>, text: &str| Command::Send {
            to,
            message: crate::app::Message::text(text),
        };
        assert_eq!(
            *batches.lock().unwrap(),
            vec![vec![send(vec![1], "a"), send(vec![1, 2], "b")], vec![send(vec![2], "c")]]
        );
        assert_eq!(stdout.seen_before_read, [0, 1, 2], "a batch goes before the read that waits for more");
    }

    #[test]
    fn long_lines_are_cut_but_consumed() {
        let mut data = vec![b'x'; MAX_LINE + 10];
        data.extend_from_slice(b"\nnext\n");
        let mut reader = BufReader::new(&data[..]);
        let mut line = Vec::new();
        assert_eq!(read_line(&mut reader, &mut line, MAX_LINE).unwrap(), MAX_LINE + 11);
        assert!(line.len() > MAX_LINE && line.len() <= MAX_LINE + 1);
        line.clear();
        read_line(&mut reader, &mut line, MAX_LINE).unwrap();
        assert_eq!(line, b"next\n");
    }
}
