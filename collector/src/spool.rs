//! The on-disk spool: sealed envelopes the hub has not acknowledged yet.
//!
//! Every envelope goes through the spool (write-ahead): it is written here
//! first, then the jobs it carries leave the job store, then it is sent.
//! So data is never only in memory, whatever happens to the hub or the
//! process. The spool keeps the *sealed* envelope, so the data stays
//! encrypted at rest; an envelope that waited longer than the hub's
//! timestamp window is opened with the collector's own keys and sealed
//! again (new header, same payload, same `batch_id`), see [`crate::hub`].
//!
//! # Files
//! `spool/<seq, 16 digits>-<batch id>.env`, delivered in `seq` order
//! (oldest first). Content: `PPUSPOOL` (8 bytes), format `1` (1 byte),
//! SHA-256 of the envelope (32 bytes), the envelope. Written atomically and
//! fsynced; the checksum catches a damaged disk (a damaged entry is moved
//! to `spool/corrupt/` and reported, never sent, never silently deleted).
//! Entries the hub refuses for good (a 4xx that no retry can fix) go to
//! `spool/rejected/`, also loudly.
//!
//! # Full
//! The spool has a size limit. When an envelope does not fit, [`Spool::push`]
//! refuses it with [`SpoolError::Full`]: the caller keeps the data where it
//! was (job store, device) and reports the condition. Nothing is dropped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::files::{create_private_dir, sync_dir, write_atomic};

const MAGIC: &[u8; 8] = b"PPUSPOOL";
const FORMAT: u8 = 1;
const HEADER_LEN: usize = MAGIC.len() + 1 + 32;

/// Why an envelope could not be spooled.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The spool is at its size limit.
    #[error(
        "the spool is full: {used} of {limit} bytes used, an envelope of {needed} bytes does not fit"
    )]
    Full {
        /// Bytes in the spool.
        used: u64,
        /// The limit.
        limit: u64,
        /// Size of the refused entry.
        needed: u64,
    },
    /// A file operation failed.
    #[error("spool i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// One spooled envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolEntry {
    /// Position in the delivery order.
    pub seq: u64,
    /// The payload's batch id.
    pub batch_id: Uuid,
    /// The sealed envelope.
    pub envelope: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Meta {
    batch_id: Uuid,
    size: u64,
}

/// The spool directory.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    entries: BTreeMap<u64, Meta>,
    bytes: u64,
}

fn file_name(seq: u64, batch_id: Uuid) -> String {
    format!("{seq:016}-{batch_id}.env")
}

fn parse_name(name: &str) -> Option<(u64, Uuid)> {
    let stem = name.strip_suffix(".env")?;
    let (seq, batch) = stem.split_once('-')?;
    Some((seq.parse().ok()?, Uuid::parse_str(batch).ok()?))
}

impl Spool {
    /// Open the spool in `dir` with a size limit.
    ///
    /// # Errors
    /// The I/O error.
    pub fn open(dir: &Path, max_bytes: u64) -> std::io::Result<Self> {
        create_private_dir(dir)?;
        crate::files::remove_stale_temporaries(dir)?;
        let mut entries = BTreeMap::new();
        let mut bytes = 0;
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some((seq, batch_id)) = name.to_str().and_then(parse_name) else {
                continue;
            };
            let size = entry.metadata()?.len();
            bytes += size;
            entries.insert(seq, Meta { batch_id, size });
        }
        Ok(Self {
            dir: dir.to_owned(),
            max_bytes,
            entries,
            bytes,
        })
    }

    /// Change the size limit (a new configuration).
    pub fn set_max_bytes(&mut self, max_bytes: u64) {
        self.max_bytes = max_bytes;
    }

    /// Envelopes waiting.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The size limit.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Whether an envelope of `size` bytes would fit.
    pub fn fits(&self, size: usize) -> bool {
        self.bytes + (HEADER_LEN + size) as u64 <= self.max_bytes
    }

    /// Add an envelope at the end of the queue, durably.
    ///
    /// # Errors
    /// [`SpoolError::Full`] when it does not fit (nothing written), or the I/O error.
    pub fn push(&mut self, batch_id: Uuid, envelope: &[u8]) -> Result<u64, SpoolError> {
        let needed = (HEADER_LEN + envelope.len()) as u64;
        if self.bytes + needed > self.max_bytes {
            return Err(SpoolError::Full {
                used: self.bytes,
                limit: self.max_bytes,
                needed,
            });
        }
        let seq = self.entries.keys().next_back().map_or(1, |s| s + 1);
        write_atomic(&self.dir.join(file_name(seq, batch_id)), &encode(envelope))?;
        self.entries.insert(
            seq,
            Meta {
                batch_id,
                size: needed,
            },
        );
        self.bytes += needed;
        Ok(seq)
    }

    /// The oldest entry. A damaged one is moved aside (and logged) and the
    /// next one is returned.
    ///
    /// # Errors
    /// The I/O error.
    pub fn oldest(&mut self) -> std::io::Result<Option<SpoolEntry>> {
        while let Some((&seq, meta)) = self.entries.iter().next() {
            let batch_id = meta.batch_id;
            let path = self.dir.join(file_name(seq, batch_id));
            let bytes = std::fs::read(&path)?;
            match decode(&bytes) {
                Some(envelope) => {
                    return Ok(Some(SpoolEntry {
                        seq,
                        batch_id,
                        envelope: envelope.to_vec(),
                    }));
                }
                None => {
                    tracing::error!(
                        file = %path.display(),
                        "spooled envelope is damaged (checksum mismatch); moved to spool/corrupt"
                    );
                    self.move_aside(seq, "corrupt", "checksum mismatch")?;
                }
            }
        }
        Ok(None)
    }

    /// Replace an entry's envelope (after sealing it again), keeping its place.
    ///
    /// # Errors
    /// The I/O error.
    pub fn replace(&mut self, seq: u64, envelope: &[u8]) -> std::io::Result<()> {
        let Some(meta) = self.entries.get_mut(&seq) else {
            return Ok(());
        };
        write_atomic(
            &self.dir.join(file_name(seq, meta.batch_id)),
            &encode(envelope),
        )?;
        let size = (HEADER_LEN + envelope.len()) as u64;
        self.bytes = self.bytes - meta.size + size;
        meta.size = size;
        Ok(())
    }

    /// Remove a delivered entry.
    ///
    /// # Errors
    /// The I/O error.
    pub fn remove(&mut self, seq: u64) -> std::io::Result<()> {
        if let Some(meta) = self.entries.remove(&seq) {
            std::fs::remove_file(self.dir.join(file_name(seq, meta.batch_id)))?;
            sync_dir(&self.dir)?;
            self.bytes -= meta.size;
        }
        Ok(())
    }

    /// Move an entry the hub refused for good to `spool/rejected/`, with the reason.
    ///
    /// # Errors
    /// The I/O error.
    pub fn reject(&mut self, seq: u64, reason: &str) -> std::io::Result<()> {
        self.move_aside(seq, "rejected", reason)
    }

    fn move_aside(&mut self, seq: u64, to: &str, reason: &str) -> std::io::Result<()> {
        let Some(meta) = self.entries.remove(&seq) else {
            return Ok(());
        };
        let aside = self.dir.join(to);
        create_private_dir(&aside)?;
        let name = file_name(seq, meta.batch_id);
        std::fs::rename(self.dir.join(&name), aside.join(&name))?;
        write_atomic(&aside.join(format!("{name}.reason")), reason.as_bytes())?;
        sync_dir(&self.dir)?;
        self.bytes -= meta.size;
        Ok(())
    }
}

fn encode(envelope: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + envelope.len());
    out.extend_from_slice(MAGIC);
    out.push(FORMAT);
    out.extend_from_slice(&Sha256::digest(envelope));
    out.extend_from_slice(envelope);
    out
}

fn decode(bytes: &[u8]) -> Option<&[u8]> {
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC || bytes[8] != FORMAT {
        return None;
    }
    let envelope = &bytes[HEADER_LEN..];
    (Sha256::digest(envelope).as_slice() == &bytes[9..HEADER_LEN]).then_some(envelope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_back_oldest_first_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
        let (a, b, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        assert_eq!(spool.push(a, b"first").unwrap(), 1);
        assert_eq!(spool.push(b, b"second").unwrap(), 2);
        spool.push(c, b"third").unwrap();
        assert_eq!(spool.len(), 3);
        drop(spool);
        let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(spool.bytes(), (3 * HEADER_LEN + 5 + 6 + 5) as u64);
        let e = spool.oldest().unwrap().unwrap();
        assert_eq!(
            (e.seq, e.batch_id, e.envelope.as_slice()),
            (1, a, &b"first"[..])
        );
        spool.replace(1, b"first, sealed again").unwrap();
        assert_eq!(
            spool.oldest().unwrap().unwrap().envelope,
            b"first, sealed again"
        );
        spool.remove(1).unwrap();
        assert_eq!(spool.oldest().unwrap().unwrap().batch_id, b);
        spool.reject(2, "400 malformed_payload").unwrap();
        assert_eq!(spool.oldest().unwrap().unwrap().batch_id, c);
        assert!(dir.path().join("rejected").join(file_name(2, b)).exists());
        // New entries go after the highest sequence number, never reusing one.
        assert_eq!(spool.push(a, b"fourth").unwrap(), 4);
        assert_eq!(spool.bytes(), (2 * HEADER_LEN + 5 + 6) as u64);
    }

    #[test]
    fn a_full_spool_refuses_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), (2 * HEADER_LEN + 200) as u64).unwrap();
        spool.push(Uuid::from_u128(1), &[0; 100]).unwrap();
        spool.push(Uuid::from_u128(2), &[0; 100]).unwrap();
        assert!(!spool.fits(1));
        let e = spool.push(Uuid::from_u128(3), &[0; 1]).unwrap_err();
        assert!(matches!(e, SpoolError::Full { .. }), "{e}");
        assert!(e.to_string().starts_with("the spool is full"), "{e}");
        assert_eq!(spool.len(), 2);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
        spool.remove(1).unwrap();
        assert!(spool.fits(100));
    }

    #[test]
    fn damaged_entries_are_moved_aside_not_sent() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
        spool.push(Uuid::from_u128(1), b"good one").unwrap();
        spool.push(Uuid::from_u128(2), b"next").unwrap();
        let path = dir.path().join(file_name(1, Uuid::from_u128(1)));
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        let e = spool.oldest().unwrap().unwrap();
        assert_eq!(e.envelope, b"next");
        assert!(
            dir.path()
                .join("corrupt")
                .join(file_name(1, Uuid::from_u128(1)))
                .exists()
        );
        assert_eq!(spool.len(), 1);
    }
}
