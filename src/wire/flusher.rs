//! The flushers: a few short-lived threads that write what a connection's
//! socket did not take at once.
//!
//! A writer whose socket is full hands itself to [`Flushers::submit`]. An
//! idle flusher takes it, or a new one starts (up to a cap); past the cap
//! the writer waits its turn in a queue. A flusher writes with blocking
//! sends (bounded by the socket's send timeout) until that writer is
//! drained, takes the next one, and ends when there has been nothing to do
//! for [`LINGER`]. A thread per backed-up connection would cost four memory
//! mappings each (stack, signal stack, two guard pages) with no bound; the
//! cap is counted in the server's connection ceiling.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use log::error;

use super::writer::Writer;

/// Most flusher threads at once.
pub const MAX_FLUSHERS: usize = 64;
/// How long an idle flusher waits for more work before it ends.
const LINGER: Duration = Duration::from_secs(2);
/// A flusher only copies bytes into a socket.
const STACK: usize = 64 * 1024;

/// The pool of flusher threads.
#[derive(Debug)]
pub struct Flushers {
    /// Writers waiting for a flusher, and the thread counts.
    queue: Mutex<Queue>,
    /// Wakes an idle flusher.
    work: Condvar,
    /// Most threads at once.
    max: usize,
}

/// What the pool's lock guards.
#[derive(Debug, Default)]
struct Queue {
    /// Writers with pending bytes that no flusher has taken yet.
    waiting: VecDeque<Arc<Writer>>,
    /// Flusher threads running.
    threads: usize,
    /// Of those, the ones waiting for work.
    idle: usize,
}

impl Flushers {
    /// A pool of at most `max` threads (none run until there is work).
    pub fn new(max: usize) -> Arc<Flushers> {
        Arc::new(Flushers { queue: Mutex::default(), work: Condvar::new(), max: max.max(1) })
    }

    /// Has `writer`'s pending bytes written by a flusher.
    pub(super) fn submit(self: &Arc<Self>, writer: Arc<Writer>) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.waiting.push_back(writer);
        if queue.idle > 0 {
            self.work.notify_one();
            return;
        }
        if queue.threads >= self.max {
            return; // a busy flusher takes it when it is done
        }
        queue.threads += 1;
        drop(queue);
        let pool = self.clone();
        let spawned =
            thread::Builder::new().name("flusher".into()).stack_size(STACK).spawn(move || pool.run());
        if let Err(e) = spawned {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            queue.threads -= 1;
            if queue.threads == 0 {
                // Nobody will write these: better closed than stuck.
                error!(
                    "cannot start a flusher thread ({e}); closing {} backed-up clients",
                    queue.waiting.len()
                );
                for writer in queue.waiting.drain(..) {
                    writer.shutdown();
                }
            }
        }
    }

    fn run(&self) {
        loop {
            let writer = {
                let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    if let Some(writer) = queue.waiting.pop_front() {
                        break writer;
                    }
                    queue.idle += 1;
                    let (q, wait) = self.work.wait_timeout(queue, LINGER).unwrap_or_else(|e| e.into_inner());
                    queue = q;
                    queue.idle -= 1;
                    if wait.timed_out() && queue.waiting.is_empty() {
                        queue.threads -= 1;
                        return;
                    }
                }
            };
            writer.flush_blocking();
        }
    }
}
