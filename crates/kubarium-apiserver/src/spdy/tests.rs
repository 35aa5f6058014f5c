//! A SPDY client written against the frame codec drives [`super::serve`] over an in-memory
//! pipe: streams, pings, flow control both ways, GOAWAY.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::frame::{Decoder, Encoder, Frame, Headers, SETTINGS_INITIAL_WINDOW_SIZE, Setting};
use super::session::INITIAL_WINDOW;
use super::{Stream, serve};

struct Client {
    io: DuplexStream,
    encoder: Encoder,
    decoder: Decoder,
    buf: BytesMut,
}

impl Client {
    fn new(io: DuplexStream) -> Self {
        Self {
            io,
            encoder: Encoder::new().unwrap(),
            decoder: Decoder::new(),
            buf: BytesMut::new(),
        }
    }

    async fn send(&mut self, frame: Frame) {
        let mut out = BytesMut::new();
        self.encoder.encode(&frame, &mut out).unwrap();
        self.io.write_all(&out).await.unwrap();
    }

    /// The next frame, or `None` when the server closed the connection.
    async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf).unwrap() {
                return Some(frame);
            }
            if self.io.read_buf(&mut self.buf).await.unwrap() == 0 {
                return None;
            }
        }
    }

    /// The next frame that is not a WINDOW_UPDATE.
    async fn next_skipping_updates(&mut self) -> Option<Frame> {
        loop {
            match self.next().await? {
                Frame::WindowUpdate { .. } => {}
                frame => return Some(frame),
            }
        }
    }

    async fn open(&mut self, stream_id: u32) {
        self.send(Frame::SynStream {
            stream_id,
            associated: 0,
            priority: 0,
            fin: false,
            unidirectional: false,
            headers: Headers(vec![("streamtype".into(), "data".into())]),
        })
        .await;
    }
}

fn start() -> (
    Client,
    super::session::Connection,
    tokio::sync::mpsc::UnboundedReceiver<Stream>,
) {
    let (client, server) = tokio::io::duplex(1 << 20);
    let (connection, streams) = serve(server, Duration::from_secs(3600));
    (Client::new(client), connection, streams)
}

fn data(stream_id: u32, fin: bool, bytes: &'static [u8]) -> Frame {
    Frame::Data {
        stream_id,
        fin,
        data: Bytes::from_static(bytes),
    }
}

#[tokio::test]
async fn a_stream_is_replied_to_echoed_and_closed() {
    let (mut client, _connection, mut streams) = start();
    client.open(1).await;
    let stream = streams.recv().await.unwrap();
    assert_eq!(stream.headers.get("StreamType"), Some("data"));
    stream.reply().await.unwrap();
    assert_eq!(
        client.next().await,
        Some(Frame::SynReply {
            stream_id: 1,
            fin: false,
            headers: Headers::default()
        })
    );
    let Stream {
        mut reader, writer, ..
    } = stream;
    client.send(data(1, true, b"ping")).await;
    assert_eq!(reader.read().await.unwrap(), Bytes::from_static(b"ping"));
    assert_eq!(reader.read().await, None, "FIN ends the client's half");
    writer.write(Bytes::from_static(b"pong")).await.unwrap();
    writer.close().await;
    assert_eq!(
        client.next_skipping_updates().await,
        Some(data(1, false, b"pong"))
    );
    assert_eq!(
        client.next_skipping_updates().await,
        Some(data(1, true, b""))
    );
}

#[tokio::test]
async fn client_pings_are_echoed_and_bad_stream_ids_reset() {
    let (mut client, _connection, _streams) = start();
    client.send(Frame::Ping { id: 1 }).await;
    assert_eq!(client.next().await, Some(Frame::Ping { id: 1 }));
    client.open(2).await;
    assert_eq!(
        client.next().await,
        Some(Frame::RstStream {
            stream_id: 2,
            status: super::status::PROTOCOL_ERROR
        })
    );
}

#[tokio::test]
async fn consumed_data_is_returned_as_window_updates() {
    let (mut client, _connection, mut streams) = start();
    client.open(1).await;
    let mut stream = streams.recv().await.unwrap();
    stream.reply().await.unwrap();
    client.send(data(1, false, &[7; 1000])).await;
    assert_eq!(stream.reader.read().await.unwrap().len(), 1000);
    let mut updates = Vec::new();
    while updates.len() < 2 {
        if let Some(Frame::WindowUpdate { stream_id, delta }) = client.next().await {
            updates.push((stream_id, delta));
        }
    }
    updates.sort_unstable();
    assert_eq!(updates, [(0, 1000), (1, 1000)]);
}

/// A client that keeps windows (it announced one) gets no more than its window until it
/// sends WINDOW_UPDATE. Time is paused: the wait below ends only once every task is idle.
#[tokio::test(start_paused = true)]
async fn sending_honours_the_window_of_a_client_that_keeps_one() {
    let (mut client, _connection, mut streams) = start();
    client
        .send(Frame::Settings {
            clear: false,
            settings: vec![Setting {
                flags: 0,
                id: SETTINGS_INITIAL_WINDOW_SIZE,
                value: INITIAL_WINDOW as u32,
            }],
        })
        .await;
    client.open(1).await;
    let stream = streams.recv().await.unwrap();
    stream.reply().await.unwrap();
    let writer = stream.writer.clone();
    let total = INITIAL_WINDOW + 10_000;
    let sending = tokio::spawn(async move { writer.write(Bytes::from(vec![1u8; total])).await });

    let mut received = 0;
    while received < INITIAL_WINDOW {
        if let Some(Frame::Data { data, .. }) = client.next().await {
            received += data.len();
        }
    }
    assert_eq!(received, INITIAL_WINDOW);
    let more = tokio::time::timeout(Duration::from_secs(5), client.next()).await;
    assert!(more.is_err(), "sent past the window: {more:?}");

    for stream_id in [0, 1] {
        client
            .send(Frame::WindowUpdate {
                stream_id,
                delta: 10_000,
            })
            .await;
    }
    while received < total {
        if let Some(Frame::Data { data, .. }) = client.next().await {
            received += data.len();
        }
    }
    assert_eq!(received, total);
    sending.await.unwrap().unwrap();
}

/// spdystream never announces or updates windows; sending must not stall at 64 KiB.
#[tokio::test]
async fn a_client_without_flow_control_gets_everything() {
    let (mut client, _connection, mut streams) = start();
    client.open(1).await;
    let stream = streams.recv().await.unwrap();
    stream.reply().await.unwrap();
    let total = 3 * INITIAL_WINDOW;
    stream
        .writer
        .write(Bytes::from(vec![1u8; total]))
        .await
        .unwrap();
    let mut received = 0;
    while received < total {
        if let Some(Frame::Data { data, .. }) = client.next().await {
            received += data.len();
        }
    }
    assert_eq!(received, total);
}

#[tokio::test]
async fn go_away_refuses_new_streams_and_ends_the_connection() {
    let (mut client, connection, mut streams) = start();
    client.open(1).await;
    let stream = streams.recv().await.unwrap();
    stream.reply().await.unwrap();
    let going = tokio::spawn({
        let connection = connection.clone();
        async move { connection.go_away().await }
    });
    assert_eq!(
        client.next_skipping_updates().await,
        Some(Frame::SynReply {
            stream_id: 1,
            fin: false,
            headers: Headers::default()
        })
    );
    assert_eq!(
        client.next().await,
        Some(Frame::GoAway {
            last_good: 1,
            status: super::frame::goaway::OK
        })
    );
    client.open(3).await;
    assert_eq!(
        client.next().await,
        Some(Frame::RstStream {
            stream_id: 3,
            status: super::status::REFUSED_STREAM
        })
    );
    // The open stream finishes; then the connection ends.
    stream.writer.close().await;
    client.send(data(1, true, b"")).await;
    going.await.unwrap();
    while client.next().await.is_some() {}
}
