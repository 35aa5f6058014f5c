//! The store's contract, tested against a real SQLite file.

use std::time::Duration;

use super::*;

struct TestStore {
    store: Store,
    dir: tempfile::TempDir,
}

fn open_with(options: StoreOptions) -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("state.db"), options).unwrap();
    TestStore { store, dir }
}

fn open() -> TestStore {
    open_with(StoreOptions::default())
}

/// `len` bytes that do not compress (xorshift), so a write costs its whole size on disk.
fn incompressible(len: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

fn text(object: &Object) -> &str {
    std::str::from_utf8(&object.value).unwrap()
}

#[tokio::test]
async fn revisions_grow_by_one_per_write_and_cas_guards_updates() {
    let t = open();
    let s = &t.store;
    let a = s.create("/r/a", b"1".to_vec()).await.unwrap();
    assert_eq!((a.create_revision, a.mod_revision), (1, 1));
    assert!(matches!(
        s.create("/r/a", b"x".to_vec()).await,
        Err(Error::AlreadyExists { .. })
    ));
    let a2 = s.update("/r/a", b"2".to_vec(), Some(1)).await.unwrap();
    assert_eq!((a2.create_revision, a2.mod_revision), (1, 2));
    match s.update("/r/a", b"3".to_vec(), Some(1)).await {
        Err(Error::Conflict {
            expected: 1,
            current: 2,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        s.update("/r/none", b"3".to_vec(), None).await,
        Err(Error::NotFound { .. })
    ));
    let (deleted, at) = s.delete("/r/a", None).await.unwrap();
    assert_eq!((text(&deleted), at), ("2", 3));
    assert_eq!(s.get("/r/a").unwrap(), None);
    assert_eq!(s.revision(), 3);
}

#[tokio::test]
async fn lists_page_by_key_and_read_older_revisions() {
    let t = open();
    let s = &t.store;
    for name in ["c", "a", "b", "d"] {
        s.create(&format!("/r/{name}"), name.as_bytes().to_vec())
            .await
            .unwrap();
    }
    s.create("/other/x", b"x".to_vec()).await.unwrap();
    let before = s.revision();
    s.update("/r/a", b"a2".to_vec(), None).await.unwrap();
    s.delete("/r/b", None).await.unwrap();
    s.create("/r/e", b"e".to_vec()).await.unwrap();

    let now = s.list("/r/", &ListOptions::default()).unwrap();
    let keys: Vec<_> = now
        .items
        .iter()
        .map(|o| (o.key.as_str(), text(o)))
        .collect();
    assert_eq!(
        keys,
        [("/r/a", "a2"), ("/r/c", "c"), ("/r/d", "d"), ("/r/e", "e")]
    );

    // Paging at the first page's revision sees that snapshot, whatever changed since.
    let first = s
        .list(
            "/r/",
            &ListOptions {
                revision: Some(before),
                limit: Some(2),
                start_after: None,
            },
        )
        .unwrap();
    assert!(first.more);
    assert_eq!(first.items.iter().map(text).collect::<Vec<_>>(), ["a", "b"]);
    let second = s
        .list(
            "/r/",
            &ListOptions {
                revision: Some(before),
                limit: Some(2),
                start_after: Some("/r/b".into()),
            },
        )
        .unwrap();
    assert!(!second.more);
    assert_eq!(
        second.items.iter().map(text).collect::<Vec<_>>(),
        ["c", "d"]
    );
    assert_eq!(second.items[0].mod_revision, 1);

    assert!(matches!(
        s.list(
            "/r/",
            &ListOptions {
                revision: Some(s.revision() + 5),
                ..Default::default()
            }
        ),
        Err(Error::FutureRevision { .. })
    ));
    s.compact_to(before + 1).await.unwrap();
    assert!(matches!(
        s.list(
            "/r/",
            &ListOptions {
                revision: Some(before),
                ..Default::default()
            }
        ),
        Err(Error::Compacted { .. })
    ));
}

/// Pages at an older revision, read after writes of every kind across the range (updates,
/// deletes, creates between and after the keys, a key deleted and made again), add up to the
/// list taken at that revision.
#[tokio::test]
async fn pages_at_an_older_revision_add_up_to_its_snapshot() {
    let t = open();
    let s = &t.store;
    for i in (0..40).step_by(2) {
        s.create(&format!("/r/{i:02}"), format!("v{i}").into_bytes())
            .await
            .unwrap();
    }
    let snapshot = s.list("/r/", &ListOptions::default()).unwrap();
    let at = snapshot.revision;
    for i in (0..40).step_by(6) {
        s.update(&format!("/r/{i:02}"), b"later".to_vec(), None)
            .await
            .unwrap();
    }
    for i in [4, 10, 38] {
        s.delete(&format!("/r/{i:02}"), None).await.unwrap();
    }
    for i in [1, 11, 39, 41] {
        s.create(&format!("/r/{i:02}"), b"new".to_vec())
            .await
            .unwrap();
    }
    s.create("/r/10", b"again".to_vec()).await.unwrap();
    s.update("/r/10", b"again2".to_vec(), None).await.unwrap();
    let seen = |page: &ListPage| -> Vec<(String, String, Revision, Revision)> {
        let text = |o: &Object| String::from_utf8(o.value.to_vec()).unwrap();
        page.items
            .iter()
            .map(|o| (o.key.clone(), text(o), o.create_revision, o.mod_revision))
            .collect()
    };
    for limit in [1, 3, 7, 20] {
        let mut paged = Vec::new();
        let mut start_after = None;
        loop {
            let options = ListOptions {
                revision: Some(at),
                limit: Some(limit),
                start_after: start_after.clone(),
            };
            let page = s.list("/r/", &options).unwrap();
            assert_eq!(page.revision, at);
            assert!(page.items.len() <= limit);
            paged.extend(seen(&page));
            if !page.more {
                break;
            }
            start_after = paged.last().map(|(key, ..)| key.clone());
        }
        assert_eq!(paged, seen(&snapshot), "pages of {limit}");
    }
}

#[tokio::test]
async fn watch_replays_history_then_follows_live_in_order() {
    let t = open();
    let s = &t.store;
    s.create("/r/a", b"1".to_vec()).await.unwrap();
    s.create("/x/ignored", b"-".to_vec()).await.unwrap();
    s.update("/r/a", b"2".to_vec(), None).await.unwrap();
    let mut watch = s.watch("/r/", 1).unwrap();
    s.delete("/r/a", None).await.unwrap();
    s.create("/r/b", b"3".to_vec()).await.unwrap();

    let mut seen = Vec::new();
    for _ in 0..3 {
        let event = tokio::time::timeout(Duration::from_secs(5), watch.next())
            .await
            .unwrap()
            .unwrap();
        seen.push((
            event.revision,
            event.key().to_owned(),
            event.object.is_some(),
            event.prev.is_some(),
        ));
    }
    assert_eq!(
        seen,
        [
            (3, "/r/a".into(), true, true),
            (4, "/r/a".into(), false, true),
            (5, "/r/b".into(), true, false)
        ]
    );
    assert_eq!(watch.try_next(), Ok(None));

    s.compact_to(3).await.unwrap();
    assert!(matches!(
        s.watch("/r/", 2),
        Err(Error::Compacted {
            requested: 2,
            compacted: 3
        })
    ));
    assert!(s.watch("/r/", 3).is_ok());
}

#[tokio::test]
async fn a_watch_is_idle_only_once_it_has_handed_out_what_was_published() {
    let t = open();
    let s = &t.store;
    s.create("/r/a", b"1".to_vec()).await.unwrap();
    let mut watch = s.watch("/r/", 0).unwrap();
    assert!(!watch.is_idle(), "the replayed create is pending");
    assert_eq!(watch.next().await.unwrap().revision, 1);
    assert!(watch.is_idle());
    s.create("/r/b", b"2".to_vec()).await.unwrap();
    assert!(!watch.is_idle(), "the live create is pending");
    assert_eq!(watch.next().await.unwrap().revision, 2);
    assert!(watch.is_idle());
    s.create("/x/other", b"3".to_vec()).await.unwrap();
    assert!(
        watch.is_idle(),
        "another prefix's write is not this watch's"
    );
}

#[tokio::test]
async fn a_slow_watcher_is_closed_without_holding_up_writers_or_others() {
    let t = open_with(StoreOptions {
        watch_buffer: 4,
        ..Default::default()
    });
    let s = &t.store;
    let mut slow = s.watch("/r/", 0).unwrap();
    let mut fast = s.watch("/r/", 0).unwrap();
    let mut fast_seen = Vec::new();
    for i in 0..20 {
        s.create(&format!("/r/{i:02}"), vec![]).await.unwrap();
        while let Ok(Some(event)) = fast.try_next() {
            fast_seen.push(event.revision);
        }
    }
    assert_eq!(
        fast_seen,
        (1..=20).collect::<Vec<_>>(),
        "the fast watcher saw every event in order"
    );
    // The slow one got what fit in its buffer, in order, then its stream ended.
    let mut slow_seen = Vec::new();
    while let Some(event) = slow.next().await {
        slow_seen.push(event.revision);
    }
    assert_eq!(slow_seen, [1, 2, 3, 4]);
    assert_eq!(t.store.inner.hub.watchers(), 1);
}

#[tokio::test]
async fn sixteen_racing_writers_one_winner_per_round() {
    let t = open();
    let s = t.store.clone();
    s.create("/r/counter", b"0".to_vec()).await.unwrap();
    for round in 0..10 {
        let current = s.get("/r/counter").unwrap().unwrap();
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let s = s.clone();
                let expected = current.mod_revision;
                tokio::spawn(async move {
                    s.update(
                        "/r/counter",
                        format!("{round}-{i}").into_bytes(),
                        Some(expected),
                    )
                    .await
                })
            })
            .collect();
        let mut wins = 0;
        let mut conflicts = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => wins += 1,
                Err(Error::Conflict { .. }) => conflicts += 1,
                Err(other) => panic!("{other:?}"),
            }
        }
        assert_eq!((wins, conflicts), (1, 15), "round {round}");
    }
    assert_eq!(s.revision(), 11);
}

#[tokio::test]
async fn content_carries_its_own_revision() {
    let t = open();
    t.store.create("/r/a", vec![]).await.unwrap();
    let rendered = t
        .store
        .create(
            "/r/b",
            Content::WithRevision {
                bytes: b"rv=;".to_vec(),
                at: 3,
            },
        )
        .await
        .unwrap();
    assert_eq!(text(&rendered), "rv=2;");
    assert_eq!(text(&t.store.get("/r/b").unwrap().unwrap()), "rv=2;");
}

#[tokio::test]
async fn state_and_revision_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        let s = Store::open(&path, StoreOptions::default()).unwrap();
        s.create("/r/a", b"kept".to_vec()).await.unwrap();
        s.create("/r/b", b"gone".to_vec()).await.unwrap();
        s.delete("/r/b", None).await.unwrap();
    }
    let s = Store::open(&path, StoreOptions::default()).unwrap();
    assert_eq!(s.revision(), 3);
    assert_eq!(text(&s.get("/r/a").unwrap().unwrap()), "kept");
    let next = s.create("/r/c", vec![]).await.unwrap();
    assert_eq!(next.mod_revision, 4);
}

#[tokio::test]
async fn compaction_keeps_the_newest_revisions() {
    let t = open_with(StoreOptions {
        history_revisions: 5,
        history_age: Duration::ZERO,
        ..Default::default()
    });
    let s = &t.store;
    for i in 0..12 {
        s.create(&format!("/r/{i}"), vec![]).await.unwrap();
    }
    assert_eq!(s.compact().await.unwrap(), 7);
    assert_eq!(s.compacted().unwrap(), 7);
    assert!(matches!(s.watch("/r/", 6), Err(Error::Compacted { .. })));
    let mut watch = s.watch("/r/", 7).unwrap();
    let mut revisions = Vec::new();
    while let Ok(Some(e)) = watch.try_next() {
        revisions.push(e.revision);
    }
    assert_eq!(revisions, (8..=12).collect::<Vec<_>>());
    // Age counts too: with ten minutes, nothing this young is compacted.
    let t = open_with(StoreOptions {
        history_revisions: 1,
        ..Default::default()
    });
    for i in 0..5 {
        t.store.create(&format!("/r/{i}"), vec![]).await.unwrap();
    }
    assert_eq!(t.store.compact().await.unwrap(), 0);
}

#[tokio::test]
async fn sealed_prefixes_never_reach_the_file_in_clear() {
    let key = EncryptionKey::generate().unwrap();
    let encryption = Encryption::new(&key, "local", vec!["/core/secrets/".into()]).unwrap();
    let t = open_with(StoreOptions {
        encryption: Some(encryption),
        ..Default::default()
    });
    let s = &t.store;
    let secret = b"correct-horse-battery-staple".to_vec();
    s.create("/core/secrets/default/db", secret.clone())
        .await
        .unwrap();
    s.update(
        "/core/secrets/default/db",
        b"second-secret-value-xyz".to_vec(),
        None,
    )
    .await
    .unwrap();
    s.create(
        "/core/configmaps/default/c",
        b"visible-config-value".to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(
        s.get("/core/secrets/default/db")
            .unwrap()
            .unwrap()
            .value
            .as_ref(),
        b"second-secret-value-xyz"
    );
    let mut watch = s.watch("/core/secrets/", 0).unwrap();
    assert_eq!(
        watch
            .try_next()
            .unwrap()
            .unwrap()
            .object
            .as_ref()
            .unwrap()
            .value
            .as_ref(),
        secret.as_slice()
    );

    let mut on_disk = Vec::new();
    for entry in std::fs::read_dir(t.dir.path()).unwrap() {
        on_disk.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let contains = |needle: &[u8]| on_disk.windows(needle.len()).any(|w| w == needle);
    assert!(
        contains(b"visible-config-value"),
        "the scan reads the data files"
    );
    assert!(!contains(&secret));
    assert!(!contains(b"second-secret-value-xyz"));
}

#[tokio::test]
async fn commits_are_checkpointed_into_the_database_file_off_the_writer() {
    let t = open();
    let db = t.dir.path().join("state.db");
    let before = std::fs::metadata(&db).unwrap().len();
    let payload = incompressible(4096);
    for i in 0..200 {
        t.store
            .create(&format!("/r/{i}"), payload.clone())
            .await
            .unwrap();
    }
    // The checkpoint thread copies the WAL back.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::fs::metadata(&db).unwrap().len() < before + 200 * 4096 {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing was checkpointed into {}",
            db.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_wal_grown_past_its_limit_under_steady_writes_starts_over_and_is_cut_back() {
    let t = open();
    let wal = t.dir.path().join("state.db-wal");
    let wal_len = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    let limit = u64::try_from(crate::db::WAL_RESTART_BYTES).unwrap();
    // Writes with no pause: each commit appends the pages of a 256 KB value (twice: the
    // object and its history row), until the WAL is past its limit.
    let payload = incompressible(256 << 10);
    let mut i = 0;
    while wal_len() <= limit {
        t.store
            .create(&format!("/r/{i}"), payload.clone())
            .await
            .unwrap();
        i += 1;
    }
    // Writes go on back to back, never leaving the checkpoint thread a moment with nothing
    // new to copy; the WAL starts over all the same and is cut back to the limit.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while wal_len() > limit {
        assert!(
            std::time::Instant::now() < deadline,
            "the WAL stayed at {} bytes",
            wal_len()
        );
        t.store
            .create(&format!("/r/{i}"), b"small".to_vec())
            .await
            .unwrap();
        i += 1;
    }
    // Nothing was lost on the way.
    assert_eq!(
        t.store.get("/r/0").unwrap().unwrap().value.len(),
        payload.len()
    );
    assert_eq!(
        t.store
            .get(&format!("/r/{}", i - 1))
            .unwrap()
            .unwrap()
            .value
            .as_ref(),
        b"small"
    );
}

#[tokio::test]
async fn a_closed_store_refuses_writes_so_a_reopened_one_owns_the_revisions() {
    let t = open();
    let old = t.store.clone();
    old.create("/r/a", b"1".to_vec()).await.unwrap();
    old.close().await;
    // A leftover handle of the stopped store: refused, not written behind the new store.
    assert!(matches!(
        old.create("/r/late", b"x".to_vec()).await,
        Err(Error::Closed)
    ));
    old.close().await; // closing twice is harmless

    let new = Store::open(&t.dir.path().join("state.db"), StoreOptions::default()).unwrap();
    assert_eq!(text(&new.get("/r/a").unwrap().unwrap()), "1");
    assert_eq!(new.get("/r/late").unwrap(), None);
    let b = new.create("/r/b", b"2".to_vec()).await.unwrap();
    assert_eq!(b.mod_revision, 2);
}
