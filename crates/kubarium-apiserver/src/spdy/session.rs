//! The server side of one SPDY/3.1 connection: a task reads frames and hands each stream
//! the client opens to the handler, a task writes frames; PINGs are answered, GOAWAY and
//! idleness end the connection.
//!
//! Flow control: every stream may buffer one window (64 KiB) of the client's data; as the
//! handler consumes it, WINDOW_UPDATEs (stream and session) give the client room again.
//! A client that ignores windows (spdystream, i.e. every kubectl, never sends or honours
//! WINDOW_UPDATE) is slowed by the connection instead: frames past a stream's window wait,
//! as spdystream's own reader waits. Sending, this side honours the client's windows
//! once the client shows it keeps them (a SETTINGS initial window or a WINDOW_UPDATE);
//! before that it sends as a SPDY/3 peer would, which is what spdystream expects.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::time::Instant;

use super::frame::{self, Decoder, Encoder, Frame, Headers, goaway, status};
use super::{Error, Result};

/// The initial window of every stream and of the session, both ways (SPDY/3.1).
pub(crate) const INITIAL_WINDOW: usize = 64 * 1024;
/// The largest DATA frame this side sends.
const MAX_DATA: usize = 32 * 1024;
/// How many frames may wait for the writer before senders wait.
const QUEUE: usize = 64;
/// How long streams get to finish after a GOAWAY this side sent.
const GOAWAY_GRACE: Duration = Duration::from_secs(10);

/// A stream the client opened, waiting for [`Stream::reply`] or [`Stream::reset`].
pub(crate) struct Stream {
    pub(crate) id: u32,
    pub(crate) headers: Headers,
    pub(crate) reader: StreamReader,
    pub(crate) writer: StreamWriter,
}

/// The client's data on one stream.
pub(crate) struct StreamReader {
    id: u32,
    data: mpsc::UnboundedReceiver<(Bytes, OwnedSemaphorePermit)>,
    shared: Arc<Shared>,
}

/// Sends on one stream.
#[derive(Clone)]
pub(crate) struct StreamWriter {
    id: u32,
    shared: Arc<Shared>,
}

/// The connection, for the handler: ask it to go away, or wait for it to end.
#[derive(Clone)]
pub(crate) struct Connection {
    shared: Arc<Shared>,
}

struct Shared {
    out: mpsc::Sender<Frame>,
    state: Mutex<State>,
    /// Send windows grew, or streams ended.
    changed: Notify,
    /// Set once the connection is over; the writer then flushes and stops.
    closed: watch::Sender<bool>,
}

struct State {
    streams: HashMap<u32, Entry>,
    /// The client keeps SPDY/3.1 windows, so sending honours them.
    peer_flow_control: bool,
    initial_send_window: i64,
    session_send_window: i64,
    last_accepted: u32,
    going_away: bool,
    last_activity: Instant,
}

struct Entry {
    data: Option<mpsc::UnboundedSender<(Bytes, OwnedSemaphorePermit)>>,
    /// What the client may still send before its frames wait (its window here).
    budget: Arc<Semaphore>,
    send_window: i64,
    local_closed: bool,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave the map half-updated in a way that matters here.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn send(&self, frame: Frame) -> Result<()> {
        self.out.send(frame).await.map_err(|_| Error::Closed)
    }

    fn close(&self) {
        self.closed.send_replace(true);
        let mut state = self.state();
        for entry in state.streams.values_mut() {
            entry.data = None;
        }
        state.streams.clear();
        drop(state);
        self.changed.notify_waiters();
    }

    /// Forgets a stream once both halves are closed, waking whoever waits on streams.
    fn finish_if_done(&self, state: &mut State, id: u32) {
        if let Some(entry) = state.streams.get(&id)
            && entry.local_closed
            && entry.data.is_none()
        {
            state.streams.remove(&id);
            self.changed.notify_waiters();
        }
    }
}

/// Serves a SPDY/3.1 connection over `io`: the streams the client opens arrive on the
/// receiver, which ends with the connection.
pub(crate) fn serve<T>(
    io: T,
    idle_timeout: Duration,
) -> (Connection, mpsc::UnboundedReceiver<Stream>)
where
    T: AsyncRead + AsyncWrite + Send + 'static,
{
    let (out, queue) = mpsc::channel(QUEUE);
    let (closed, _) = watch::channel(false);
    let shared = Arc::new(Shared {
        out,
        state: Mutex::new(State {
            streams: HashMap::new(),
            peer_flow_control: false,
            initial_send_window: INITIAL_WINDOW as i64,
            session_send_window: INITIAL_WINDOW as i64,
            last_accepted: 0,
            going_away: false,
            last_activity: Instant::now(),
        }),
        changed: Notify::new(),
        closed,
    });
    let (accepted, streams) = mpsc::unbounded_channel();
    let (read, write) = tokio::io::split(io);
    tokio::spawn(write_frames(write, queue, shared.clone()));
    tokio::spawn(read_frames(read, accepted, shared.clone(), idle_timeout));
    (Connection { shared }, streams)
}

impl Connection {
    /// Sends GOAWAY: no new streams; the connection ends when the open ones have (or
    /// after a grace period).
    pub(crate) async fn go_away(&self) {
        let last_good = {
            let mut state = self.shared.state();
            if state.going_away {
                return;
            }
            state.going_away = true;
            state.last_accepted
        };
        let _ = self
            .shared
            .send(Frame::GoAway {
                last_good,
                status: goaway::OK,
            })
            .await;
        let deadline = Instant::now() + GOAWAY_GRACE;
        loop {
            let changed = self.shared.changed.notified();
            if self.shared.state().streams.is_empty() {
                break;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                break;
            }
        }
        self.shared.close();
    }
}

impl Stream {
    /// Accepts the stream (SYN_REPLY).
    pub(crate) async fn reply(&self) -> Result<()> {
        self.writer
            .shared
            .send(Frame::SynReply {
                stream_id: self.id,
                fin: false,
                headers: Headers::default(),
            })
            .await
    }
}

impl StreamReader {
    /// The next data the client sent; `None` once it closed its half, reset the stream,
    /// or the connection ended.
    pub(crate) async fn read(&mut self) -> Option<Bytes> {
        let (data, permit) = self.data.recv().await?;
        let consumed = u32::try_from(permit.num_permits()).unwrap_or(u32::MAX);
        drop(permit);
        // The room is back: tell the client, for the stream and the session.
        if consumed > 0 {
            for stream_id in [self.id, 0] {
                let _ = self
                    .shared
                    .send(Frame::WindowUpdate {
                        stream_id,
                        delta: consumed,
                    })
                    .await;
            }
        }
        Some(data)
    }
}

impl StreamWriter {
    /// Sends `data`, in frames the client's windows allow.
    pub(crate) async fn write(&self, mut data: Bytes) -> Result<()> {
        while !data.is_empty() {
            let len = self.reserve(data.len().min(MAX_DATA)).await?;
            let chunk = data.split_to(len);
            self.shared
                .send(Frame::Data {
                    stream_id: self.id,
                    fin: false,
                    data: chunk,
                })
                .await?;
        }
        Ok(())
    }

    /// Waits until up to `want` bytes may be sent and takes them from the windows.
    async fn reserve(&self, want: usize) -> Result<usize> {
        loop {
            let changed = self.shared.changed.notified();
            {
                let mut state = self.shared.state();
                let flow_control = state.peer_flow_control;
                let session = state.session_send_window;
                let entry = state.streams.get_mut(&self.id).ok_or(Error::Reset)?;
                if entry.local_closed {
                    return Err(Error::Reset);
                }
                if !flow_control {
                    return Ok(want);
                }
                let room = entry.send_window.min(session);
                if room > 0 {
                    let len = want.min(usize::try_from(room).unwrap_or(want));
                    entry.send_window -= len as i64;
                    state.session_send_window -= len as i64;
                    return Ok(len);
                }
            }
            changed.await;
        }
    }

    /// Closes this side's half (an empty DATA frame with FIN).
    pub(crate) async fn close(&self) {
        {
            let mut state = self.shared.state();
            match state.streams.get_mut(&self.id) {
                Some(entry) if !entry.local_closed => entry.local_closed = true,
                _ => return,
            }
            self.shared.finish_if_done(&mut state, self.id);
        }
        let _ = self
            .shared
            .send(Frame::Data {
                stream_id: self.id,
                fin: true,
                data: Bytes::new(),
            })
            .await;
    }

    /// Abandons the stream both ways (RST_STREAM).
    pub(crate) async fn reset(&self, status: u32) {
        if self.shared.state().streams.remove(&self.id).is_none() {
            return;
        }
        self.shared.changed.notify_waiters();
        let _ = self
            .shared
            .send(Frame::RstStream {
                stream_id: self.id,
                status,
            })
            .await;
    }
}

async fn write_frames<W: AsyncWrite>(
    write: W,
    mut queue: mpsc::Receiver<Frame>,
    shared: Arc<Shared>,
) {
    tokio::pin!(write);
    let mut encoder = match Encoder::new() {
        Ok(encoder) => encoder,
        Err(error) => {
            tracing::warn!(%error, "cannot set up SPDY header compression");
            shared.close();
            return;
        }
    };
    let mut closed = shared.closed.subscribe();
    let mut buf = BytesMut::new();
    loop {
        let frame = tokio::select! {
            biased;
            frame = queue.recv() => frame,
            _ = closed.wait_for(|closed| *closed) => queue.try_recv().ok(),
        };
        let Some(frame) = frame else { break };
        if let Err(error) = encoder.encode(&frame, &mut buf) {
            tracing::debug!(%error, "dropping a SPDY frame that cannot be encoded");
        }
        // Write what is queued together, then flush.
        while let Ok(frame) = queue.try_recv() {
            if let Err(error) = encoder.encode(&frame, &mut buf) {
                tracing::debug!(%error, "dropping a SPDY frame that cannot be encoded");
            }
        }
        shared.state().last_activity = Instant::now();
        if write.write_all(&buf).await.is_err() || write.flush().await.is_err() {
            shared.close();
            break;
        }
        buf.clear();
    }
    let _ = write.shutdown().await;
}

async fn read_frames<R: AsyncRead>(
    read: R,
    accepted: mpsc::UnboundedSender<Stream>,
    shared: Arc<Shared>,
    idle_timeout: Duration,
) {
    tokio::pin!(read);
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let mut closed = shared.closed.subscribe();
    loop {
        let idle_at = shared.state().last_activity + idle_timeout;
        let read = tokio::select! {
            read = read.read_buf(&mut buf) => Some(read),
            _ = closed.wait_for(|closed| *closed) => break,
            () = tokio::time::sleep_until(idle_at) => None,
        };
        let Some(read) = read else {
            let (last_activity, last_good) = {
                let state = shared.state();
                (state.last_activity, state.last_accepted)
            };
            if last_activity + idle_timeout <= Instant::now() {
                tracing::debug!(?idle_timeout, "closing an idle SPDY connection");
                let _ = shared
                    .send(Frame::GoAway {
                        last_good,
                        status: goaway::OK,
                    })
                    .await;
                break;
            }
            continue;
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        shared.state().last_activity = Instant::now();
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    if let Err(error) = handle(frame, &accepted, &shared).await {
                        tracing::debug!(%error, "ending a SPDY connection");
                        shared.close();
                        return;
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    tracing::debug!(%error, "a SPDY client sent a malformed frame");
                    let last_good = shared.state().last_accepted;
                    let _ = shared
                        .send(Frame::GoAway {
                            last_good,
                            status: goaway::PROTOCOL_ERROR,
                        })
                        .await;
                    shared.close();
                    return;
                }
            }
        }
    }
    shared.close();
}

async fn handle(
    frame: Frame,
    accepted: &mpsc::UnboundedSender<Stream>,
    shared: &Arc<Shared>,
) -> Result<()> {
    match frame {
        Frame::SynStream {
            stream_id,
            fin,
            headers,
            ..
        } => {
            let refused = {
                let mut state = shared.state();
                if stream_id % 2 == 0 || stream_id <= state.last_accepted {
                    Some(if state.streams.contains_key(&stream_id) {
                        status::STREAM_IN_USE
                    } else {
                        status::PROTOCOL_ERROR
                    })
                } else if state.going_away {
                    Some(status::REFUSED_STREAM)
                } else {
                    state.last_accepted = stream_id;
                    None
                }
            };
            if let Some(status) = refused {
                return shared.send(Frame::RstStream { stream_id, status }).await;
            }
            let (data, received) = mpsc::unbounded_channel();
            let entry = Entry {
                data: (!fin).then_some(data),
                budget: Arc::new(Semaphore::new(INITIAL_WINDOW)),
                send_window: shared.state().initial_send_window,
                local_closed: false,
            };
            shared.state().streams.insert(stream_id, entry);
            let stream = Stream {
                id: stream_id,
                headers,
                reader: StreamReader {
                    id: stream_id,
                    data: received,
                    shared: shared.clone(),
                },
                writer: StreamWriter {
                    id: stream_id,
                    shared: shared.clone(),
                },
            };
            if accepted.send(stream).is_err() {
                shared.state().streams.remove(&stream_id);
                shared
                    .send(Frame::RstStream {
                        stream_id,
                        status: status::REFUSED_STREAM,
                    })
                    .await?;
            }
        }
        Frame::Data {
            stream_id,
            fin,
            data,
        } => {
            let target = {
                let state = shared.state();
                state
                    .streams
                    .get(&stream_id)
                    .and_then(|entry| Some((entry.data.clone()?, entry.budget.clone())))
            };
            if let Some((sender, budget)) = target {
                if !data.is_empty() {
                    // A client past its window waits here, holding up the connection.
                    let want = u32::try_from(data.len().min(INITIAL_WINDOW)).unwrap_or(0);
                    if let Ok(permit) = budget.acquire_many_owned(want).await {
                        let _ = sender.send((data, permit));
                    }
                }
                if fin {
                    let mut state = shared.state();
                    if let Some(entry) = state.streams.get_mut(&stream_id) {
                        entry.data = None;
                    }
                    shared.finish_if_done(&mut state, stream_id);
                }
            }
        }
        Frame::RstStream { stream_id, .. } => {
            shared.state().streams.remove(&stream_id);
            shared.changed.notify_waiters();
        }
        Frame::Settings { settings, .. } => {
            let mut state = shared.state();
            for setting in settings {
                if setting.id == frame::SETTINGS_INITIAL_WINDOW_SIZE {
                    let delta = i64::from(setting.value) - state.initial_send_window;
                    state.initial_send_window = i64::from(setting.value);
                    state.peer_flow_control = true;
                    for entry in state.streams.values_mut() {
                        entry.send_window += delta;
                    }
                }
            }
            drop(state);
            shared.changed.notify_waiters();
        }
        Frame::WindowUpdate { stream_id, delta } => {
            let overflow = {
                let mut state = shared.state();
                state.peer_flow_control = true;
                if stream_id == 0 {
                    state.session_send_window += i64::from(delta);
                    false
                } else {
                    state.streams.get_mut(&stream_id).is_some_and(|entry| {
                        entry.send_window += i64::from(delta);
                        entry.send_window > i64::from(i32::MAX)
                    })
                }
            };
            shared.changed.notify_waiters();
            if overflow {
                shared.state().streams.remove(&stream_id);
                shared
                    .send(Frame::RstStream {
                        stream_id,
                        status: status::FLOW_CONTROL_ERROR,
                    })
                    .await?;
            }
        }
        // Client-initiated pings have odd ids; echo them. This side sends none.
        Frame::Ping { id } if id % 2 == 1 => shared.send(Frame::Ping { id }).await?,
        Frame::GoAway { .. } => shared.state().going_away = true,
        // HEADERS and SYN_REPLY only follow streams this side opens (none), so ignore
        // them, with pings replying to nothing and unknown control frames.
        Frame::Ping { .. }
        | Frame::SynReply { .. }
        | Frame::Headers { .. }
        | Frame::Unknown { .. } => {}
    }
    Ok(())
}
