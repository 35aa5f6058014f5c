//! Shared informers: one watch and one cache per kind for every loop in the process, as
//! kube-controller-manager's shared informer factory does.
//!
//! A loop asks for what it needs while it is being set up — [`Informers::store`] for a cache
//! it reads, [`Informers::subscribe`] for a stream of changed objects that drives it — and
//! [`Informers::start`] then starts one reflector per kind that was asked for; a loop that
//! must see objects go away takes [`Informers::deleted`] too. A subscription
//! taken after `start` would miss the initial list, so `subscribe` panics in debug builds if
//! called late.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use kube::runtime::reflector::{self, ReflectHandle, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::broadcast;
use tokio::task::JoinSet;

/// Events buffered per kind for subscribers; a subscriber that falls this far behind
/// holds the reflector back (the loops only queue keys, so they never do for long).
const SUBSCRIBER_BUFFER: usize = 4096;

/// The kinds a loop may watch: k8s-openapi's built-in types.
pub trait Watched:
    Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static
{
}

impl<K> Watched for K where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static
{
}

type Starter = Box<dyn FnOnce(Client) -> BoxFuture<'static, ()> + Send>;

/// One kind's cache, and its writer until the informers start.
struct Informer<K: Watched> {
    reader: Store<K>,
    writer: Arc<Mutex<Option<reflector::store::Writer<K>>>>,
    deleted: broadcast::Sender<Arc<K>>,
}

/// The process's shared caches, one per kind asked for.
pub struct Informers {
    client: Client,
    kinds: Mutex<HashMap<TypeId, Box<dyn Any + Send>>>,
    starters: Mutex<Vec<Starter>>,
    started: AtomicBool,
}

impl Informers {
    /// No informers yet; they are made on first request.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            kinds: Mutex::new(HashMap::new()),
            starters: Mutex::new(Vec::new()),
            started: AtomicBool::new(false),
        }
    }

    /// The client the informers watch through.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The cache of every `K` in the cluster (all namespaces). Empty until the informers
    /// start and the first list arrives; see [`Store::wait_until_ready`].
    pub fn store<K: Watched>(&self) -> Store<K> {
        self.with::<K, _>(|informer| informer.reader.clone())
    }

    /// A stream of every `K` as it is listed, added or changed (deletions are seen through
    /// the store). Take it before [`Informers::start`]: a later one would miss the list.
    pub fn subscribe<K: Watched>(&self) -> ReflectHandle<K> {
        debug_assert!(
            !self.started.load(Ordering::Relaxed),
            "subscribe to {} before the informers start",
            K::kind(&())
        );
        self.with::<K, _>(|informer| {
            lock(&informer.writer)
                .as_ref()
                .and_then(|writer| writer.subscribe())
                .unwrap_or_else(|| unreachable!("subscribed before start, to a shared writer"))
        })
    }

    /// A stream of every `K` as it is deleted (the last state the watch saw), which the
    /// stream of [`Informers::subscribe`] leaves out: a ReplicaSet replaces a pod deleted
    /// without grace, a Deployment using Recreate waits for its old pods to be gone. A
    /// subscriber that falls [`SUBSCRIBER_BUFFER`] deletions behind misses the oldest.
    pub fn deleted<K: Watched>(&self) -> impl futures_util::Stream<Item = Arc<K>> + Send + 'static {
        let deleted = self.with::<K, _>(|informer| informer.deleted.subscribe());
        futures_util::stream::unfold(deleted, |mut deleted| async move {
            loop {
                match deleted.recv().await {
                    Ok(object) => return Some((object, deleted)),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::debug!(kind = K::kind(&()).as_ref(), missed, "deletions missed");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
    }

    fn with<K: Watched, T>(&self, f: impl FnOnce(&Informer<K>) -> T) -> T {
        let mut kinds = lock(&self.kinds);
        let entry = kinds.entry(TypeId::of::<K>()).or_insert_with(|| {
            let (reader, writer) = reflector::store_shared::<K>(SUBSCRIBER_BUFFER);
            let writer = Arc::new(Mutex::new(Some(writer)));
            let (deleted, _) = broadcast::channel(SUBSCRIBER_BUFFER);
            let taken = writer.clone();
            let announce = deleted.clone();
            lock(&self.starters).push(Box::new(move |client| {
                let writer = lock(&taken).take();
                Box::pin(async move {
                    if let Some(writer) = writer {
                        reflect::<K>(client, writer, announce).await;
                    }
                })
            }));
            Box::new(Informer {
                reader,
                writer,
                deleted,
            })
        });
        let informer = entry
            .downcast_ref::<Informer<K>>()
            .unwrap_or_else(|| unreachable!("informers are keyed by their type"));
        f(informer)
    }

    /// Starts one reflector per kind asked for, on `tasks`. Each retries with backoff
    /// after an error (client-go's defaults) and re-lists after `410 Gone`.
    pub fn start(&self, tasks: &mut JoinSet<()>) {
        self.started.store(true, Ordering::Relaxed);
        let starters = std::mem::take(&mut *lock(&self.starters));
        for starter in starters {
            tasks.spawn(starter(self.client.clone()));
        }
    }
}

/// Keeps `writer`'s cache in step with the cluster until the task is aborted, and tells
/// `deleted`'s subscribers about deletions.
async fn reflect<K: Watched>(
    client: Client,
    writer: reflector::store::Writer<K>,
    deleted: broadcast::Sender<Arc<K>>,
) {
    let api = Api::<K>::all(client);
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .reflect_shared(writer);
    futures_util::pin_mut!(stream);
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::Delete(object)) => {
                // No subscriber is not an error: nobody asked about deletions of this kind.
                let _ = deleted.send(Arc::new(object));
            }
            Ok(_) => {}
            Err(error) => {
                tracing::debug!(kind = K::kind(&()).as_ref(), %error, "watch failed; retrying");
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
