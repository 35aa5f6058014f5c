//! Values compressed on their way to SQLite. A pod's JSON is 3–5 KB, so each history row of
//! it spans two pages, and under load the WAL and its checkpoints wrote 55–92 MB/s
//! (docs/benchmarks.md). LZ4's block format (the size prepended), behind a marker that
//! neither a JSON document nor an encryption envelope starts with. Sealed values are not
//! compressed (their length would say something of their content). A value read without the
//! marker was written before, or was too small to gain, and is used as it is.

use std::borrow::Cow;

use crate::{Error, Result};

/// What a compressed value starts with; a value that starts with it is always compressed,
/// so no stored value is read as compressed that was not.
const MARKER: &[u8] = b"\0lz4";

/// Below this, the marker and the size cost about what LZ4 saves.
const SMALLEST: usize = 128;

/// The largest value compressed, far above what the API server accepts (a 3 MB request).
/// A stored size above it is damage, refused before anything is allocated for it.
const LARGEST: u32 = 64 << 20;

/// `value` as it goes to disk.
pub(crate) fn compress(value: &[u8]) -> Result<Cow<'_, [u8]>> {
    if value.len() < SMALLEST && !value.starts_with(MARKER) {
        return Ok(Cow::Borrowed(value));
    }
    let size = u32::try_from(value.len())
        .ok()
        .filter(|&size| size <= LARGEST)
        .ok_or_else(|| {
            Error::Internal(format!(
                "a value of {} bytes cannot be stored: the largest is {LARGEST}",
                value.len()
            ))
        })?;
    let head = MARKER.len() + 4;
    let mut out = vec![0; head + lz4_flex::block::get_maximum_output_size(value.len())];
    out[..MARKER.len()].copy_from_slice(MARKER);
    out[MARKER.len()..head].copy_from_slice(&size.to_le_bytes());
    let written = lz4_flex::block::compress_into(value, &mut out[head..])
        .map_err(|e| Error::Internal(format!("compressing a value failed: {e}")))?;
    out.truncate(head + written);
    Ok(Cow::Owned(out))
}

/// `stored` as it came from disk, decompressed when it was compressed.
pub(crate) fn decompress(key: &str, stored: Vec<u8>) -> Result<Vec<u8>> {
    let Some(rest) = stored.strip_prefix(MARKER) else {
        return Ok(stored);
    };
    let damaged =
        |why: String| Error::Internal(format!("the stored value of {key} is damaged: {why}"));
    let (size, compressed) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| damaged("it ends before its size".to_owned()))?;
    let size = u32::from_le_bytes(*size);
    if size > LARGEST {
        return Err(damaged(format!(
            "it claims {size} bytes, more than any value stored"
        )));
    }
    let value = lz4_flex::block::decompress(compressed, size as usize)
        .map_err(|e| damaged(format!("its compressed data does not decode ({e})")))?;
    if value.len() != size as usize {
        return Err(damaged(format!(
            "it decodes to {} bytes, not the {size} it claims",
            value.len()
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_only_small_ones_stay_as_they_are() -> Result<()> {
        let pod = format!(
            r#"{{"kind":"Pod","metadata":{{"name":"web"}},"spec":{{"containers":[{}]}}}}"#,
            vec![r#"{"name":"c","image":"nginx","imagePullPolicy":"IfNotPresent"}"#; 40].join(",")
        );
        let stored = compress(pod.as_bytes())?;
        assert!(stored.starts_with(MARKER));
        assert!(
            stored.len() < pod.len() / 4,
            "{} of {}",
            stored.len(),
            pod.len()
        );
        assert_eq!(decompress("k", stored.into_owned())?, pod.as_bytes());

        let small = br#"{"a":1}"#;
        assert!(matches!(compress(small)?, Cow::Borrowed(_)));
        assert_eq!(decompress("k", small.to_vec())?, small);

        // A small value that looks compressed is compressed, so it reads back as written.
        let lookalike = b"\0lz4 but not compressed";
        let stored = compress(lookalike)?.into_owned();
        assert_ne!(stored, lookalike);
        assert_eq!(decompress("k", stored)?, lookalike);
        Ok(())
    }

    /// Why `decompress` refuses `stored`; empty when it does not.
    fn refusal(key: &str, stored: Vec<u8>) -> String {
        decompress(key, stored)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn a_damaged_value_is_an_error_naming_its_key() {
        let mut stored = compress(&[b'x'; 1000])
            .map(Cow::into_owned)
            .unwrap_or_default();
        stored.truncate(stored.len() - 3);
        let error = refusal("/registry/pods/a/b", stored);
        assert!(error.contains("/registry/pods/a/b"), "{error:?}");
    }

    #[test]
    fn a_damaged_size_is_refused_before_anything_is_allocated_for_it() {
        let mut stored = MARKER.to_vec();
        stored.extend_from_slice(&u32::MAX.to_le_bytes());
        stored.extend_from_slice(b"anything");
        let error = refusal("/registry/pods/a/b", stored);
        assert!(error.contains("claims 4294967295 bytes"), "{error:?}");
        let cut = refusal("k", MARKER.to_vec());
        assert!(cut.contains("ends before its size"), "{cut:?}");
    }

    #[test]
    fn a_value_above_the_largest_is_not_stored() {
        let largest = vec![b'x'; LARGEST as usize];
        assert!(compress(&largest).is_ok());
        let error = compress(&vec![b'x'; LARGEST as usize + 1])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("cannot be stored"), "{error:?}");
    }

    /// A pod-sized JSON value, `n` telling one from another.
    fn pod(n: u32) -> Vec<u8> {
        let containers =
            vec![r#"{"name":"c","image":"nginx:1.27","ports":[{"containerPort":80}]}"#; 30];
        format!(
            r#"{{"n":{n},"spec":{{"containers":[{}]}}}}"#,
            containers.join(",")
        )
        .into_bytes()
    }

    #[tokio::test]
    async fn the_store_writes_values_compressed_and_reads_them_back_at_every_revision_and_after_a_restart()
    -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::Internal(e.to_string()))?;
        let path = dir.path().join("state.db");
        let store = crate::Store::open(&path, crate::StoreOptions::default())?;
        store.create("/r/a", pod(1)).await?;
        let before = store.revision();
        store.update("/r/a", pod(2), None).await?;
        // The older revision is read from SQLite's history, not from memory.
        let old = store.list(
            "/r/",
            &crate::ListOptions {
                revision: Some(before),
                ..Default::default()
            },
        )?;
        assert_eq!(old.items[0].value.as_ref(), pod(1).as_slice());
        store.close().await;

        let reopened = crate::Store::open(&path, crate::StoreOptions::default())?;
        let now = reopened.get("/r/a")?.map(|o| o.value.to_vec());
        assert_eq!(now, Some(pod(2)));
        let conn = rusqlite::Connection::open(&path)?;
        let longest: i64 =
            conn.query_row("SELECT MAX(length(value)) FROM history", [], |r| r.get(0))?;
        assert!(
            usize::try_from(longest).is_ok_and(|l| l < pod(2).len() / 4),
            "{longest} bytes stored for {} of JSON",
            pod(2).len()
        );
        Ok(())
    }
}
