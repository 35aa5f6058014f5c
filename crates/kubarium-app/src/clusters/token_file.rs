//! A bearer token read from a file (a kubeconfig user's `tokenFile`, such as a projected
//! service account token that the kubelet rotates), read as client-go reads it: when the
//! client is built, then again before a request once the file has changed and at least once
//! a minute; when the file cannot be read later, the last token read is kept (client-go
//! keeps it so that a token file removed after start-up does not break the client).
//!
//! The path is public and kept in the cluster list; the token is held in memory only. kube-rs
//! reads a `tokenFile` itself, but only once a minute, so a rotated token would be used up
//! to a minute late; this layer, outside kube-rs's own, sets the header on every request.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use http::header::{AUTHORIZATION, HeaderValue};

/// The longest a token is used without reading the file again, as client-go does.
const REREAD: Duration = Duration::from_secs(60);

/// One user's token file and the token last read from it.
#[derive(Debug)]
pub(crate) struct TokenFile {
    path: PathBuf,
    last: Mutex<Read>,
}

/// A token as read, and what the file looked like then.
#[derive(Debug)]
struct Read {
    header: HeaderValue,
    stamp: Stamp,
    at: Instant,
}

/// What tells that the file changed: its length, modification time and (on Unix) inode, so
/// a rotation that renames a new file into place is seen too.
type Stamp = Option<(u64, SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let metadata = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
    #[cfg(not(unix))]
    let inode = 0;
    Some((metadata.len(), metadata.modified().ok()?, inode))
}

/// The `Authorization` header for the token in `path`, and the file's stamp; the reason
/// when it cannot be read or holds no usable token.
fn read(path: &Path) -> Result<Read, String> {
    let stamp = stamp(path);
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let token = text.trim();
    if token.is_empty() {
        return Err("it is empty".to_owned());
    }
    let mut header = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| "it holds characters a token cannot have".to_owned())?;
    header.set_sensitive(true);
    Ok(Read {
        header,
        stamp,
        at: Instant::now(),
    })
}

impl TokenFile {
    /// Reads the token in `path` now; why not, in words, when it cannot be.
    pub(crate) fn open(path: &str) -> Result<Arc<Self>, String> {
        let path = PathBuf::from(path);
        let last = read(&path)?;
        Ok(Arc::new(Self {
            path,
            last: Mutex::new(last),
        }))
    }

    /// The header to send now: read again when the file changed or a minute has passed.
    fn header(&self) -> HeaderValue {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.at.elapsed() >= REREAD || stamp(&self.path) != last.stamp {
            match read(&self.path) {
                Ok(read) => *last = read,
                Err(reason) => {
                    // Keep the last token; look again in a minute, not on every request.
                    tracing::debug!(file = %self.path.display(), %reason, "the token file could not be read again; the last token read is used");
                    last.at = Instant::now();
                    last.stamp = stamp(&self.path);
                }
            }
        }
        last.header.clone()
    }
}

/// The tower layer that gives every request the token file's current token.
#[derive(Debug, Clone)]
pub(crate) struct TokenFileLayer(pub(crate) Arc<TokenFile>);

impl<S> tower::Layer<S> for TokenFileLayer {
    type Service = WithTokenFile<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WithTokenFile {
            inner,
            token: Arc::clone(&self.0),
        }
    }
}

/// A service whose requests carry the token file's current token.
#[derive(Debug, Clone)]
pub(crate) struct WithTokenFile<S> {
    inner: S,
    token: Arc<TokenFile>,
}

impl<S, B> tower::Service<http::Request<B>> for WithTokenFile<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        request
            .headers_mut()
            .insert(AUTHORIZATION, self.token.header());
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotated_token_is_read_before_the_next_request() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "first\n").unwrap();
        let file = TokenFile::open(path.to_str().unwrap()).unwrap();
        assert_eq!(file.header(), "Bearer first");
        assert!(file.header().is_sensitive());
        // A rotation writes a new file and renames it into place (a new inode).
        let next = dir.path().join("token.next");
        std::fs::write(&next, "second").unwrap();
        std::fs::rename(&next, &path).unwrap();
        assert_eq!(file.header(), "Bearer second");
        // A file that goes away keeps the last token.
        std::fs::remove_file(&path).unwrap();
        assert_eq!(file.header(), "Bearer second");
    }

    #[test]
    fn an_unreadable_or_empty_file_is_refused_at_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        assert!(TokenFile::open(path.to_str().unwrap()).is_err());
        std::fs::write(&path, " \n").unwrap();
        assert_eq!(
            TokenFile::open(path.to_str().unwrap()).unwrap_err(),
            "it is empty"
        );
    }
}
