//! Each value is stored once: what a read of history, a watch's replay and compaction find
//! through `prev_mod_revision`, and what a file of the first schema becomes when opened.

use rusqlite::Connection;

use super::*;

/// Every event a watch of `/r/` replays after `after`, as (revision, value, previous value
/// and its revision).
fn replay(store: &Store, after: Revision) -> Vec<(Revision, String, String, Revision)> {
    let text = |object: &Option<Object>| {
        object.as_ref().map_or(String::new(), |o| {
            String::from_utf8(o.value.to_vec()).unwrap()
        })
    };
    let mut watch = store.watch("/r/", after).unwrap();
    let mut events = Vec::new();
    while let Ok(Some(event)) = watch.try_next() {
        events.push((
            event.revision,
            text(&event.object),
            text(&event.prev),
            event.prev.as_ref().map_or(0, |p| p.mod_revision),
        ));
    }
    events
}

/// `/r/` as of `revision`: (key, value, create and mod revision).
fn state_at(store: &Store, revision: Revision) -> Vec<(String, String, Revision, Revision)> {
    let options = ListOptions {
        revision: Some(revision),
        ..Default::default()
    };
    store
        .list("/r/", &options)
        .unwrap()
        .items
        .into_iter()
        .map(|o| {
            let value = String::from_utf8(o.value.to_vec()).unwrap();
            (o.key, value, o.create_revision, o.mod_revision)
        })
        .collect()
}

fn history_revisions(path: &Path) -> Vec<Revision> {
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT revision FROM history ORDER BY revision")
        .unwrap();
    stmt.query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn owned(rows: &[(&str, &str, Revision, Revision)]) -> Vec<(String, String, Revision, Revision)> {
    rows.iter()
        .map(|(k, v, c, m)| (k.to_string(), v.to_string(), *c, *m))
        .collect()
}

#[tokio::test]
async fn compaction_keeps_the_values_that_are_still_read_and_drops_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let s = Store::open(&path, StoreOptions::default()).unwrap();
    s.create("/r/a", b"a1".to_vec()).await.unwrap(); // 1
    s.create("/r/b", b"b1".to_vec()).await.unwrap(); // 2
    s.update("/r/a", b"a2".to_vec(), None).await.unwrap(); // 3
    s.create("/r/c", b"c1".to_vec()).await.unwrap(); // 4
    s.update("/r/a", b"a3".to_vec(), None).await.unwrap(); // 5
    s.create("/r/d", b"d1".to_vec()).await.unwrap(); // 6
    s.delete("/r/d", None).await.unwrap(); // 7
    s.update("/r/b", b"b2".to_vec(), None).await.unwrap(); // 8
    s.delete("/r/c", None).await.unwrap(); // 9

    assert_eq!(s.compact_to(7).await.unwrap(), 7);
    // Kept at or before 7: a's live value (5), and the values rows 8 and 9 replaced (2, 4).
    // Gone: a1 and a2 (replaced before 7), and d (created and deleted before 7).
    assert_eq!(history_revisions(&path), [2, 4, 5, 8, 9]);

    let expected_replay = vec![
        (8, "b2".to_owned(), "b1".to_owned(), 2),
        (9, String::new(), "c1".to_owned(), 4),
    ];
    assert_eq!(replay(&s, 7), expected_replay);
    let at_7 = owned(&[
        ("/r/a", "a3", 1, 5),
        ("/r/b", "b1", 2, 2),
        ("/r/c", "c1", 4, 4),
    ]);
    assert_eq!(state_at(&s, 7), at_7);
    assert!(matches!(s.watch("/r/", 6), Err(Error::Compacted { .. })));

    // All of it is read back from the file by a store opened on it.
    s.close().await;
    drop(s);
    let s = Store::open(&path, StoreOptions::default()).unwrap();
    assert_eq!(replay(&s, 7), expected_replay);
    assert_eq!(state_at(&s, 7), at_7);
    let live = s.list("/r/", &ListOptions::default()).unwrap();
    let live: Vec<_> = live.items.iter().map(|o| o.value.to_vec()).collect();
    assert_eq!(live, [b"a3".to_vec(), b"b2".to_vec()]);

    // Compacting everything leaves only the live values.
    s.compact_to(9).await.unwrap();
    assert_eq!(history_revisions(&path), [5, 8]);

    // The newest row (9, a delete) is gone, yet the store opened next counts on from 9.
    s.close().await;
    drop(s);
    let s = Store::open(&path, StoreOptions::default()).unwrap();
    assert_eq!(s.revision(), 9);
    assert_eq!(
        s.create("/r/e", b"e1".to_vec()).await.unwrap().mod_revision,
        10
    );
    s.close().await;
    drop(s);
    assert_eq!(
        Store::open(&path, StoreOptions::default())
            .unwrap()
            .revision(),
        10
    );
}

/// The first schema, as kubariumd wrote it before values were stored once.
const SCHEMA_1: &str = "
CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE objects (
    key TEXT PRIMARY KEY, create_revision INTEGER NOT NULL, mod_revision INTEGER NOT NULL,
    value BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE history (
    revision INTEGER PRIMARY KEY, key TEXT NOT NULL, create_revision INTEGER NOT NULL,
    value BLOB, prev_value BLOB, prev_mod_revision INTEGER, at_ms INTEGER NOT NULL
);
-- Writes 1 to 7, compacted to 4: create a (a1), create b (b1), update a (a2), create c
-- (c1), update b (b2), update a (a3), delete c.
INSERT INTO meta VALUES ('revision', 7), ('compacted', 4);
INSERT INTO objects VALUES ('/r/a', 1, 6, CAST('a3' AS BLOB)), ('/r/b', 2, 5, CAST('b2' AS BLOB));
INSERT INTO history VALUES
    (5, '/r/b', 2, CAST('b2' AS BLOB), CAST('b1' AS BLOB), 2, 0),
    (6, '/r/a', 1, CAST('a3' AS BLOB), CAST('a2' AS BLOB), 3, 0),
    (7, '/r/c', 4, NULL, CAST('c1' AS BLOB), 4, 0);
";

#[tokio::test]
async fn a_file_of_the_first_schema_opens_with_every_value_it_held() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch(SCHEMA_1)
        .unwrap();

    let s = Store::open(&path, StoreOptions::default()).unwrap();
    assert_eq!((s.revision(), s.compacted().unwrap()), (7, 4));
    let expected_replay = vec![
        (5, "b2".to_owned(), "b1".to_owned(), 2),
        (6, "a3".to_owned(), "a2".to_owned(), 3),
        (7, String::new(), "c1".to_owned(), 4),
    ];
    assert_eq!(replay(&s, 4), expected_replay);
    let at_4 = owned(&[
        ("/r/a", "a2", 1, 3),
        ("/r/b", "b1", 2, 2),
        ("/r/c", "c1", 4, 4),
    ]);
    assert_eq!(state_at(&s, 4), at_4);
    assert_eq!(text_of(&s, "/r/a"), "a3");
    s.update("/r/b", b"b3".to_vec(), Some(5)).await.unwrap();
    s.close().await;
    drop(s);

    // The copies are gone from the file, and a second opening finds it as the first left it.
    let conn = Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    let copies: i64 = conn
        .query_row(
            "SELECT (SELECT COUNT(*) FROM pragma_table_info('objects') WHERE name = 'value')
                  + (SELECT COUNT(*) FROM pragma_table_info('history') WHERE name = 'prev_value')",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!((version, copies), (crate::db::SCHEMA_VERSION, 0));
    drop(conn);
    let s = Store::open(&path, StoreOptions::default()).unwrap();
    assert_eq!(replay(&s, 4)[..3], expected_replay[..]);
    assert_eq!(state_at(&s, 4), at_4);
    assert_eq!(text_of(&s, "/r/b"), "b3");
}

fn text_of(store: &Store, key: &str) -> String {
    String::from_utf8(store.get(key).unwrap().unwrap().value.to_vec()).unwrap()
}

#[tokio::test]
async fn a_file_of_a_newer_schema_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let s = Store::open(&path, StoreOptions::default()).unwrap();
    s.create("/r/a", b"a1".to_vec()).await.unwrap();
    s.close().await;
    drop(s);
    let newer = crate::db::SCHEMA_VERSION + 1;
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", newer)
        .unwrap();

    let error = Store::open(&path, StoreOptions::default())
        .err()
        .map(|e| e.to_string());
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.contains("newer Kubarium")),
        "{error:?}"
    );
    let version: i64 = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, newer);
}
