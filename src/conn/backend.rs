//! Plain-socket backend scripts (spec §3.5): JSON objects in, one JSON line out per message.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use crate::error::Result;
use crate::http;
use crate::server::Shared;

/// Serves a backend script that opened a plain TCP socket. `buf` holds the
/// bytes read so far (`{...` or the `php process` greeting).
pub(crate) fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    buf: Vec<u8>,
    server: &Arc<Shared>,
) -> Result<()> {
    let _ = (buf, server);
    log::info!("{peer}: plain-socket backend refused: the relay app is not part of this build yet");
    stream
        .write_all(b"{\"opcode\":\"error\",\"message\":\"plain-socket backends are not supported yet\"}\n")?;
    http::finish(stream);
    Ok(())
}
