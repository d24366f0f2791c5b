//! The listener's connections, HTTP and HTTPS alike, each bounded: at most `max_connections`
//! open at once (the others wait in the listen queue, not accepted), a request head must arrive
//! whole within `header_read_timeout` (hyper's timer, counted from when the server starts
//! waiting for it), and a connection waiting for the first byte of a request, new or kept
//! alive, is closed after `idle_timeout`. A TLS handshake has its own deadline and bound.

use std::{
    convert::Infallible,
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{body::Body, extract::Request, response::Response};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::{GracefulShutdown, Watcher},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpListener,
    sync::Semaphore,
    time::Sleep,
};
use tokio_rustls::TlsAcceptor;
use tower::{ServiceExt, util::BoxCloneSyncService};

use super::config::ServerConfig;

/// The whole application as one service: what every connection serves.
pub type App = BoxCloneSyncService<Request, Response, Infallible>;

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How many TLS handshakes may be under way at once (each costs CPU); further ones wait, within
/// their deadline.
const MAX_HANDSHAKES: usize = 256;

/// The client's side of a request's connection, in the request's extensions.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Peer {
    /// The peer's address (the TCP connection's, never a header's).
    pub(crate) addr: SocketAddr,
    /// Whether the connection is HTTPS.
    pub(crate) tls: bool,
}

/// Serves `app` on `listener` (over TLS with `tls`) with the bounds of `server`, until
/// `shutdown` completes; then stops accepting and waits for the open requests to finish.
pub(crate) async fn serve(
    app: App,
    listener: TcpListener,
    server: &ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(server.header_read_timeout)
        // A head larger than this is a 431 from hyper; the limits middleware answers the ones
        // between `max_header_bytes` and this.
        .max_buf_size((server.max_header_bytes + 8192).max(8192));
    let acceptor = server.tls.clone().map(TlsAcceptor::from);
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    let permits = Arc::new(Semaphore::new(server.max_connections));
    let idle_timeout = server.idle_timeout;
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let (app, http, watcher) = (app.clone(), http.clone(), graceful.watcher());
        let (acceptor, handshakes) = (acceptor.clone(), handshakes.clone());
        tokio::spawn(async move {
            let _permit = permit;
            match acceptor {
                None => connection(tcp, Peer { addr: peer, tls: false }, app, &http, watcher, idle_timeout).await,
                Some(acceptor) => {
                    let Some(stream) = handshake(&acceptor, &handshakes, tcp, peer).await else { return };
                    connection(stream, Peer { addr: peer, tls: true }, app, &http, watcher, idle_timeout).await;
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The TLS handshake on `tcp`, within its deadline and bound; `None` (logged) if it fails.
async fn handshake(
    acceptor: &TlsAcceptor,
    handshakes: &Semaphore,
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
) -> Option<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    let done = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        let _turn = handshakes.acquire().await.expect("the semaphore is never closed");
        acceptor.accept(tcp).await
    })
    .await;
    match done {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            None
        }
    }
}

/// Serves `app` on one connection: the peer in each request's extensions, the idle timer
/// fed by the requests under way (one is under way until its response body is dropped).
async fn connection<IO>(
    io: IO,
    peer: Peer,
    app: App,
    http: &hyper::server::conn::http1::Builder,
    watcher: Watcher,
    idle_timeout: Duration,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::default());
    let io = IdleIo::new(io, activity.clone(), idle_timeout);
    let service = hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
        let mut request: Request = request.map(Body::new);
        request.extensions_mut().insert(peer);
        if peer.tls {
            // The paywall names the resource https://… only on the server's word.
            request.extensions_mut().insert(crate::paywall::TlsConnection);
        }
        let under_way = UnderWay::new(activity.clone());
        let app = app.clone();
        async move {
            let response = match app.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            Ok::<Response, Infallible>(response.map(|body| Body::new(Tracked { body, _under_way: under_way })))
        }
    });
    if let Err(error) = watcher.watch(http.serve_connection(TokioIo::new(io), service)).await {
        tracing::debug!(peer = %peer.addr, %error, "connection ended with an error");
    }
}

/// What the connection's requests are doing, for the idle timer.
#[derive(Debug, Default)]
struct Activity {
    /// Requests under way (head read, response body not yet all sent).
    active: AtomicUsize,
    /// How many requests have finished: a change means the connection starts waiting again.
    finished: AtomicU64,
}

/// One request under way on its connection, until dropped with its response body.
#[derive(Debug)]
struct UnderWay(Arc<Activity>);

impl UnderWay {
    fn new(activity: Arc<Activity>) -> Self {
        activity.active.fetch_add(1, Ordering::AcqRel);
        Self(activity)
    }
}

impl Drop for UnderWay {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Ordering::AcqRel);
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that holds its request's [`UnderWay`] until it is sent (or dropped).
struct Tracked {
    body: Body,
    _under_way: UnderWay,
}

impl http_body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A connection's stream that reads as closed once it has waited `timeout` for the first byte of
/// a request with no request under way: when new, and after each response.
struct IdleIo<IO> {
    io: IO,
    activity: Arc<Activity>,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
    /// `activity.finished` when last looked at.
    seen: u64,
    /// Waiting for a request's first byte.
    waiting: bool,
}

impl<IO> IdleIo<IO> {
    fn new(io: IO, activity: Arc<Activity>, timeout: Duration) -> Self {
        let deadline = Box::pin(tokio::time::sleep(timeout));
        Self { io, activity, timeout, deadline, seen: 0, waiting: true }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for IdleIo<IO> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let finished = this.activity.finished.load(Ordering::Acquire);
        if finished != this.seen {
            // A response was sent: the connection waits for the next request from now.
            this.seen = finished;
            this.waiting = true;
            this.deadline.as_mut().reset(tokio::time::Instant::now() + this.timeout);
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.waiting = false;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                let idle = this.waiting && this.activity.active.load(Ordering::Acquire) == 0;
                if idle && this.deadline.as_mut().poll(cx).is_ready() {
                    // Read as the end of the stream: hyper closes an idle connection quietly.
                    return Poll::Ready(Ok(()));
                }
                Poll::Pending
            }
            error => error,
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for IdleIo<IO> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
