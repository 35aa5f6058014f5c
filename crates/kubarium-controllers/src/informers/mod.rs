//! Shared informers: one watch and one cache per kind for every loop in the process, as
//! kube-controller-manager's shared informer factory does.
//!
//! A loop asks for what it needs while it is being set up — [`Informers::store`] for a cache
//! it reads, [`Informers::subscribe`] for a stream of changed objects that drives it — and
//! [`Informers::start`] then starts one reflector per kind that was asked for. A subscription
//! taken after `start` would miss the initial list, so `subscribe` panics in debug builds if
//! called late. Deletions do not reach subscribers (the stream carries objects that
//! exist); a loop that must react to them takes [`Informers::deletions`] as well, as
//! client-go handlers have `OnDelete`. A component that keeps its own view of a kind (the
//! node pool's pods) takes [`Informers::events`]: the watch's events in order, none dropped.
//! A loop that looks objects up by something other than their name (pods by node) asks for
//! an [`Index`], which the reflector keeps in step with the cache.
//!
//! Whatever a subscriber is handed is the cache's own copy (an `Arc` of the object the store
//! holds), so a loop that keeps what it is handed costs no second decoded copy.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use futures_util::{Stream, StreamExt};
use kube::Client;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinSet;

pub use crate::watch::Watched;
pub use index::{Index, KeyFn};

mod index;

type Starter = Box<dyn FnOnce(Client) -> BoxFuture<'static, ()> + Send>;
type Senders<T> = Arc<Mutex<Vec<mpsc::UnboundedSender<T>>>>;

/// Deleted objects buffered per kind for [`Informers::deletions`]; a receiver that falls
/// further behind skips the oldest and logs it.
const DELETIONS_BUFFER: usize = 4096;

/// One kind's cache, and who listens to it.
struct Informer<K: Watched> {
    reader: Store<K>,
    subscribers: Senders<Arc<K>>,
    events: Senders<watcher::Event<Arc<K>>>,
    deleted: broadcast::Sender<Arc<K>>,
    synced: watch::Sender<bool>,
    indexes: Arc<Mutex<Vec<Index<K>>>>,
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
    /// start and the first list arrives; see [`Informers::synced`].
    pub fn store<K: Watched>(&self) -> Store<K> {
        self.with::<K, _>(|informer| informer.reader.clone())
    }

    /// A stream of every `K` as it is listed, added or changed (deletions are seen through
    /// the store). Take it before [`Informers::start`]: a later one would miss the list.
    pub fn subscribe<K: Watched>(&self) -> Subscription<K> {
        let receiver = self.listen::<K, _>("subscribe to", |informer| &informer.subscribers);
        Subscription { receiver }
    }

    /// Every event of `K`'s watch, in order and none dropped: `Init`, `InitApply` of each
    /// listed object and `InitDone` for every (re)list, then `Apply` and `Delete`. Objects
    /// listed are handed out once the list is complete. Take it before
    /// [`Informers::start`], like [`Informers::subscribe`].
    pub fn events<K: Watched>(&self) -> Events<K> {
        let receiver = self.listen::<K, _>("take the events of", |informer| &informer.events);
        Events { receiver }
    }

    /// An index of `K`'s cache by `key`, kept by the reflector. Take it before
    /// [`Informers::start`], like [`Informers::subscribe`].
    pub fn index<K: Watched>(&self, key: KeyFn<K>) -> Index<K> {
        debug_assert!(
            !self.started.load(Ordering::Relaxed),
            "index {} before the informers start",
            K::kind(&())
        );
        let index = Index::new(key);
        self.with::<K, _>(|informer| lock(&informer.indexes).push(index.clone()));
        index
    }

    /// A new receiver on one of `K`'s sender lists; `what` names the call if it comes after
    /// the start (debug builds panic: the receiver would miss the list).
    fn listen<K: Watched, T>(
        &self,
        what: &str,
        senders: impl FnOnce(&Informer<K>) -> &Senders<T>,
    ) -> mpsc::UnboundedReceiver<T> {
        debug_assert!(
            !self.started.load(Ordering::Relaxed),
            "{what} {} before the informers start",
            K::kind(&())
        );
        let (sender, receiver) = mpsc::unbounded_channel();
        self.with::<K, _>(|informer| lock(senders(informer)).push(sender));
        receiver
    }

    /// A stream of every `K` deleted from the cluster, as last seen, after the store dropped
    /// it. Take it before [`Informers::start`], like [`Informers::subscribe`].
    pub fn deletions<K: Watched>(&self) -> impl Stream<Item = Arc<K>> + Send + 'static {
        debug_assert!(
            !self.started.load(Ordering::Relaxed),
            "take deletions of {} before the informers start",
            K::kind(&())
        );
        let receiver = self.with::<K, _>(|informer| informer.deleted.subscribe());
        futures_util::stream::unfold(receiver, |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(object) => return Some((object, receiver)),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(kind = K::kind(&()).as_ref(), missed, "deletions dropped");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
    }

    /// Waits until `K`'s cache holds its first complete list. Every waiter wakes (unlike
    /// kube-runtime's `Store::wait_until_ready`, which wakes only the last task to poll a
    /// shared store, so a second loop waiting on it would wait forever).
    pub fn synced<K: Watched>(&self) -> impl Future<Output = ()> + Send + 'static {
        let synced = self.has_synced::<K>();
        async move { synced.wait().await }
    }

    /// Whether `K`'s cache holds its first complete list, as a handle a loop keeps and asks
    /// (or waits on) whenever it needs to, from as many tasks as it likes.
    pub fn has_synced<K: Watched>(&self) -> HasSynced {
        HasSynced(self.with::<K, _>(|informer| informer.synced.subscribe()))
    }

    fn with<K: Watched, T>(&self, f: impl FnOnce(&Informer<K>) -> T) -> T {
        let mut kinds = lock(&self.kinds);
        let entry = kinds.entry(TypeId::of::<K>()).or_insert_with(|| {
            // A kind first asked for after the start would never be watched.
            debug_assert!(
                !self.started.load(Ordering::Relaxed),
                "ask for {} before the informers start",
                K::kind(&())
            );
            let (reader, writer) = reflector::store::<K>();
            let subscribers = Senders::default();
            let events = Senders::default();
            let (deleted, _) = broadcast::channel(DELETIONS_BUFFER);
            let (synced, _) = watch::channel(false);
            let indexes = Arc::new(Mutex::new(Vec::new()));
            let listeners = Listeners {
                subscribers: subscribers.clone(),
                events: events.clone(),
                deleted: deleted.clone(),
                synced: synced.clone(),
                indexes: indexes.clone(),
            };
            lock(&self.starters).push(Box::new(move |client| {
                Box::pin(reflect::<K>(client, writer, listeners))
            }));
            Box::new(Informer {
                reader,
                subscribers,
                events,
                deleted,
                synced,
                indexes,
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

/// Who hears of one kind's changes; taken by its reflector when it starts.
struct Listeners<K: Watched> {
    subscribers: Senders<Arc<K>>,
    events: Senders<watcher::Event<Arc<K>>>,
    deleted: broadcast::Sender<Arc<K>>,
    synced: watch::Sender<bool>,
    indexes: Arc<Mutex<Vec<Index<K>>>>,
}

/// Keeps `writer`'s cache in step with the cluster until the task is aborted, handing each
/// listed, added or changed object to every subscriber, every event to the event receivers
/// and each deleted object to the deletion receivers, once the indexes hold the change.
/// Queues are unbounded, as a client-go listener's is: a loop that waits for the caches
/// before it reads its stream must not hold the reflector (and every other loop) back, and a
/// loop never misses an object.
async fn reflect<K: Watched>(
    client: Client,
    writer: reflector::store::Writer<K>,
    listeners: Listeners<K>,
) {
    let mut subscribers = std::mem::take(&mut *lock(&listeners.subscribers));
    let mut events = std::mem::take(&mut *lock(&listeners.events));
    let indexes = std::mem::take(&mut *lock(&listeners.indexes));
    let cache = writer.as_reader();
    let stream = K::watch(client, watcher::Config::default()).reflect(writer);
    futures_util::pin_mut!(stream);
    // A list is buffered by the reflector until it completes; what it listed is handed out
    // then, as the copies the cache holds.
    let mut listed: Vec<ObjectRef<K>> = Vec::new();
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::Apply(object)) => {
                let object = cached(&cache, object);
                for index in &indexes {
                    index.apply(&object);
                }
                hand_out(&mut events, watcher::Event::Apply(object.clone()));
                hand_out(&mut subscribers, object);
            }
            Ok(watcher::Event::InitApply(object)) => listed.push(ObjectRef::from_obj(&object)),
            Ok(watcher::Event::Delete(object)) => {
                for index in &indexes {
                    index.delete(&object);
                }
                let object = Arc::new(object);
                hand_out(&mut events, watcher::Event::Delete(object.clone()));
                // No receivers is fine: nobody asked for this kind's deletions.
                let _ = listeners.deleted.send(object);
            }
            Ok(watcher::Event::Init) => {
                listed.clear();
                hand_out(&mut events, watcher::Event::Init);
            }
            Ok(watcher::Event::InitDone) => {
                let objects: Vec<Arc<K>> =
                    listed.drain(..).filter_map(|key| cache.get(&key)).collect();
                for index in &indexes {
                    index.replace(&objects);
                }
                for object in objects {
                    hand_out(&mut events, watcher::Event::InitApply(object.clone()));
                    hand_out(&mut subscribers, object);
                }
                hand_out(&mut events, watcher::Event::InitDone);
                listeners.synced.send_replace(true);
            }
            Err(error) => {
                tracing::debug!(kind = K::kind(&()).as_ref(), %error, "watch failed; retrying");
            }
        }
    }
}

/// Sends `item` to every receiver, forgetting those that went away.
fn hand_out<T: Clone>(receivers: &mut Vec<mpsc::UnboundedSender<T>>, item: T) {
    let mut gone = false;
    for receiver in receivers.iter() {
        gone |= receiver.send(item.clone()).is_err();
    }
    if gone {
        receivers.retain(|r| !r.is_closed());
    }
}

/// `object` as `cache` holds it after the reflector applied it: the same allocation when the
/// cache has this very version, a new one otherwise.
fn cached<K: Watched>(cache: &Store<K>, object: K) -> Arc<K> {
    cache
        .get(&ObjectRef::from_obj(&object))
        .filter(|held| held.meta().resource_version == object.meta().resource_version)
        .unwrap_or_else(|| Arc::new(object))
}

/// Every `K` listed, added or changed, in the order the watch saw them: what
/// [`Informers::subscribe`] gives, to drive a kube-runtime `Controller` (for example
/// `Controller::for_shared_stream(subscription, store)`) or a loop of one's own.
///
/// Unlike kube-runtime's `ReflectHandle`, it carries the object itself, so an object deleted
/// before the subscriber reads it is still delivered instead of stalling the stream.
#[derive(Debug)]
pub struct Subscription<K> {
    receiver: mpsc::UnboundedReceiver<Arc<K>>,
}

impl<K> futures_util::Stream for Subscription<K> {
    type Item = Arc<K>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Arc<K>>> {
        self.receiver.poll_recv(cx)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether one kind's cache holds its first complete list: client-go's `HasSynced`, as
/// [`Informers::has_synced`] gives it. Use it in place of kube-runtime's
/// `Store::wait_until_ready` on a shared store: that one wakes only the last task that
/// waited, so the others (concurrent reconciles, a second loop) would wait forever.
#[derive(Debug, Clone)]
pub struct HasSynced(watch::Receiver<bool>);

impl HasSynced {
    /// Waits until the first complete list is in the cache; at once if it already is.
    pub async fn wait(&self) {
        // An error means the informer is gone (shutdown): nothing left to wait for.
        let _ = self.0.clone().wait_for(|done| *done).await;
    }
}

/// The events of one kind's watch, as [`Informers::events`] gives them.
#[derive(Debug)]
pub struct Events<K> {
    receiver: mpsc::UnboundedReceiver<watcher::Event<Arc<K>>>,
}

impl<K> futures_util::Stream for Events<K> {
    type Item = watcher::Event<Arc<K>>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.receiver.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Every task waiting for a cache wakes when its list is in, however many wait: the
    /// node controller's reconciles of three nodes wait at once at start-up.
    #[tokio::test]
    async fn every_waiter_wakes_when_the_cache_has_synced() {
        let (synced, receiver) = watch::channel(false);
        let handle = HasSynced(receiver);
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let handle = handle.clone();
                tokio::spawn(async move { handle.wait().await })
            })
            .collect();
        // Let each waiter register before the list completes.
        tokio::task::yield_now().await;
        synced.send_replace(true);
        for waiter in waiters {
            // A bound on a hang, not a timing: waking takes microseconds.
            tokio::time::timeout(Duration::from_secs(30), waiter)
                .await
                .expect("a waiter was never woken")
                .unwrap();
        }
        // Once synced, a wait returns at once.
        handle.wait().await;
    }
}
