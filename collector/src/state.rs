//! The state directory: everything the collector keeps between runs.
//!
//! ```text
//! STATE_DIR/                 (mode 0700)
//!   lock                     held by a running `run`, so two cannot share a directory
//!   credentials.json         collector id and derived keys (mode 0600; never the code or secret)
//!   status.json              last poll, last upload, configuration version (read by `status`)
//!   remote-config.json       the last good configuration from the hub, with its version
//!   pins.json                printer certificate fingerprints pinned on first use
//!   printers/<hex serial>.json   per printer: job cursor and jobs read but not yet spooled
//!   spool/                   sealed envelopes the hub has not acknowledged (see `spool`)
//! ```
//!
//! Every file is written atomically (see [`crate::files`]). The job files
//! are the heart of "no job sent twice, none missed": a job read from a
//! device is written here together with the advanced cursor, in one atomic
//! write, and leaves this file only once the envelope carrying it is safely
//! in the spool.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use ppu_protocol::SkippedDevice;
use ppu_protocol::collector_config::CollectorConfig;
use ppu_protocol::envelope::SenderKeys;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::drivers::{Job, JobCursor};
use crate::files::{create_private_dir, read_json, write_json};

/// The state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// Open (and create, mode 0700) the state directory.
    ///
    /// # Errors
    /// The I/O error.
    pub fn open(root: &Path) -> std::io::Result<Self> {
        create_private_dir(&root.join("spool"))?; // cleaned by `Spool::open`, its owner
        for dir in [root.to_owned(), root.join("printers")] {
            create_private_dir(&dir)?;
            let removed = crate::files::remove_stale_temporaries(&dir)?;
            if removed > 0 {
                tracing::info!(dir = %dir.display(), removed, "removed files of writes a crash interrupted");
            }
        }
        Ok(Self {
            root: root.to_owned(),
        })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `credentials.json`.
    pub fn credentials_path(&self) -> PathBuf {
        self.root.join("credentials.json")
    }

    /// `status.json`.
    pub fn status_path(&self) -> PathBuf {
        self.root.join("status.json")
    }

    /// `remote-config.json`.
    pub fn remote_config_path(&self) -> PathBuf {
        self.root.join("remote-config.json")
    }

    /// `pins.json`.
    pub fn pins_path(&self) -> PathBuf {
        self.root.join("pins.json")
    }

    /// `printers/`.
    pub fn printers_dir(&self) -> PathBuf {
        self.root.join("printers")
    }

    /// `spool/`.
    pub fn spool_dir(&self) -> PathBuf {
        self.root.join("spool")
    }

    /// Take the run lock: only one `run` per state directory.
    ///
    /// # Errors
    /// When another process holds it, or the lock file cannot be created.
    pub fn lock(&self) -> anyhow::Result<File> {
        let path = self.root.join("lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
                "another ppu-collector is running with the state directory {}",
                self.root.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
        }
    }

    /// The stored credentials.
    ///
    /// # Errors
    /// When the collector is not enrolled or the file is damaged.
    pub fn credentials(&self) -> anyhow::Result<Credentials> {
        read_json(&self.credentials_path())?.ok_or_else(|| {
            anyhow::anyhow!(
                "not enrolled: {} does not exist; run `ppu-collector enroll` first",
                self.credentials_path().display()
            )
        })
    }

    /// The status (default when none was written yet).
    ///
    /// # Errors
    /// When the file is damaged.
    pub fn status(&self) -> std::io::Result<Status> {
        Ok(read_json(&self.status_path())?.unwrap_or_default())
    }

    /// Write the status.
    ///
    /// # Errors
    /// The I/O error.
    pub fn save_status(&self, status: &Status) -> std::io::Result<()> {
        write_json(&self.status_path(), status)
    }

    /// The last good configuration fetched from the hub.
    ///
    /// # Errors
    /// When the file is damaged.
    pub fn remote_config(&self) -> std::io::Result<Option<RemoteConfig>> {
        read_json(&self.remote_config_path())
    }

    /// Keep `config` as the last good configuration from the hub.
    ///
    /// # Errors
    /// The I/O error.
    pub fn save_remote_config(&self, config: &RemoteConfig) -> std::io::Result<()> {
        write_json(&self.remote_config_path(), config)
    }
}

/// What enrollment produced: enough to seal envelopes, and nothing more.
#[derive(Clone, Serialize, Deserialize)]
pub struct Credentials {
    /// The hub the collector is enrolled with.
    pub hub_url: String,
    /// The site's account name.
    pub account_name: String,
    /// The collector's sender id.
    pub collector_id: String,
    /// The site.
    pub site_id: i64,
    /// `enc_key || mac_key`, hex. The shared secret itself is not kept.
    keys: String,
    /// When the collector was enrolled.
    pub enrolled_at: DateTime<Utc>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("hub_url", &self.hub_url)
            .field("account_name", &self.account_name)
            .field("collector_id", &self.collector_id)
            .field("site_id", &self.site_id)
            .field("keys", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// New credentials.
    pub fn new(
        hub_url: &str,
        account_name: &str,
        collector_id: &str,
        site_id: i64,
        keys: &SenderKeys,
        enrolled_at: DateTime<Utc>,
    ) -> Self {
        Self {
            hub_url: hub_url.to_owned(),
            account_name: account_name.to_owned(),
            collector_id: collector_id.to_owned(),
            site_id,
            keys: hex::encode(keys.to_bytes()),
            enrolled_at,
        }
    }

    /// The sender keys.
    ///
    /// # Errors
    /// When the stored keys are damaged.
    pub fn keys(&self) -> anyhow::Result<SenderKeys> {
        let bytes = hex::decode(&self.keys)
            .map_err(|_| anyhow::anyhow!("credentials.json: the keys are not hex"))?;
        Ok(SenderKeys::from_bytes(&bytes)?)
    }

    /// Write to `path`, readable by the owner only.
    ///
    /// # Errors
    /// The I/O error.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        write_json(path, self)
    }
}

/// A configuration from the hub with its version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteConfig {
    /// The site's configuration version.
    pub version: u64,
    /// The configuration as the hub sent it.
    pub config: CollectorConfig,
}

/// What one poll cycle did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CycleSummary {
    /// When the cycle started.
    pub started_at: Option<DateTime<Utc>>,
    /// How long it took.
    pub duration_ms: u64,
    /// Addresses tried.
    pub endpoints: u32,
    /// Devices that answered.
    pub found: u32,
    /// Printers collected.
    pub collected: u32,
    /// Devices found but not collected, with the reason.
    pub skipped: Vec<SkippedDevice>,
    /// Job records put into envelopes.
    pub jobs: u32,
    /// Jobs the devices no longer had (lost for billing).
    pub missed_jobs: u64,
    /// Envelopes built (one per ~90 KB of data).
    pub envelopes: u32,
    /// Batch ids of those envelopes, in order.
    pub batch_ids: Vec<Uuid>,
    /// Envelopes the hub acknowledged during the cycle (this one's and older ones).
    pub delivered: u32,
    /// Bytes sent to the hub and acknowledged.
    pub bytes_sent: u64,
    /// Whether the data could not be spooled because the spool is full.
    pub spool_full: bool,
}

/// The collector's status, as `ppu-collector status` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The last poll cycle.
    pub last_poll: Option<CycleSummary>,
    /// The last upload the hub acknowledged.
    pub last_upload_at: Option<DateTime<Utc>>,
    /// The last upload attempt.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// Version of the configuration in use (0: the local file only).
    pub config_version: u64,
    /// A configuration from the hub that was refused, and why.
    pub rejected_config: Option<RejectedConfig>,
    /// Since when the spool has been full, while it is.
    pub spool_full_since: Option<DateTime<Utc>>,
    /// The spool was full since the last upload: the next report says so.
    pub spool_full_unreported: bool,
}

/// A configuration from the hub that the collector did not apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedConfig {
    /// Its version.
    pub version: u64,
    /// Why.
    pub error: String,
    /// When.
    pub at: DateTime<Utc>,
}

// ---------------------------------------------------------------------------
// Pins
// ---------------------------------------------------------------------------

/// Printer certificate fingerprints pinned on first use, by `ip:port`.
#[derive(Debug)]
pub struct PinStore {
    path: PathBuf,
    pins: Mutex<BTreeMap<String, String>>,
}

impl PinStore {
    /// Load `pins.json` (empty when missing).
    ///
    /// # Errors
    /// When the file is damaged.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        Ok(Self {
            path: path.to_owned(),
            pins: Mutex::new(read_json(path)?.unwrap_or_default()),
        })
    }

    /// The pinned fingerprint of `address`.
    pub fn get(&self, address: &str) -> Option<[u8; 32]> {
        let pins = self
            .pins
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let hex = pins.get(address)?;
        ppu_protocol::collector_config::parse_fingerprint(hex).ok()
    }

    /// Pin `fingerprint` for `address` (first use only: an existing pin is kept).
    ///
    /// # Errors
    /// The I/O error.
    pub fn record(&self, address: &str, fingerprint: [u8; 32]) -> std::io::Result<()> {
        let mut pins = self
            .pins
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if pins.contains_key(address) {
            return Ok(());
        }
        pins.insert(address.to_owned(), hex::encode(fingerprint));
        write_json(&self.path, &*pins)
    }
}

// ---------------------------------------------------------------------------
// Jobs
// ---------------------------------------------------------------------------

/// One printer's job reading state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrinterJobs {
    /// The printer's serial number.
    pub serial: String,
    /// Where reading stands.
    pub cursor: JobCursor,
    /// Jobs read from the device and not yet in a spooled envelope, oldest first.
    pub pending: Vec<Job>,
    /// Jobs the device no longer had when asked, since the last upload.
    #[serde(default)]
    pub missed: u64,
}

impl PrinterJobs {
    /// Add newly read jobs (never one already pending).
    pub fn append(&mut self, jobs: Vec<Job>) -> usize {
        let known: HashSet<Uuid> = self.pending.iter().map(Job::uuid).collect();
        let before = self.pending.len();
        self.pending
            .extend(jobs.into_iter().filter(|j| !known.contains(&j.uuid())));
        self.pending.len() - before
    }

    /// Drop the pending jobs with these UUIDs (they are in the spool now).
    pub fn remove(&mut self, sent: &HashSet<Uuid>) {
        self.pending.retain(|j| !sent.contains(&j.uuid()));
    }
}

/// The job files of every printer, each behind its own lock so that the job
/// poller and the poll cycle never read the same printer at the same time.
#[derive(Debug)]
pub struct JobStore {
    dir: PathBuf,
    printers: Mutex<HashMap<String, Arc<tokio::sync::Mutex<PrinterJobs>>>>,
}

impl JobStore {
    /// Load every job file of `dir`.
    ///
    /// # Errors
    /// When a file is damaged (the collector must not silently forget jobs).
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        let mut printers = HashMap::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            if let Some(jobs) = read_json::<PrinterJobs>(&path)? {
                printers.insert(jobs.serial.clone(), Arc::new(tokio::sync::Mutex::new(jobs)));
            }
        }
        Ok(Self {
            dir: dir.to_owned(),
            printers: Mutex::new(printers),
        })
    }

    /// The state of `serial` (created empty on first use), locked.
    pub async fn lock(&self, serial: &str) -> tokio::sync::OwnedMutexGuard<PrinterJobs> {
        let entry = {
            let mut map = self
                .printers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            map.entry(serial.to_owned())
                .or_insert_with(|| {
                    Arc::new(tokio::sync::Mutex::new(PrinterJobs {
                        serial: serial.to_owned(),
                        ..PrinterJobs::default()
                    }))
                })
                .clone()
        };
        entry.lock_owned().await
    }

    /// Every serial number with state.
    pub fn serials(&self) -> Vec<String> {
        let map = self
            .printers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut v: Vec<String> = map.keys().cloned().collect();
        v.sort();
        v
    }

    /// Persist one printer's state.
    ///
    /// # Errors
    /// The I/O error.
    pub fn save(&self, jobs: &PrinterJobs) -> std::io::Result<()> {
        write_json(&self.path(&jobs.serial), jobs)
    }

    fn path(&self, serial: &str) -> PathBuf {
        // Hex keeps any serial a safe, unique file name.
        self.dir.join(format!("{}.json", hex::encode(serial)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ppu_protocol::{JobIdentity, PrintDetails, PrintJob};

    fn job(n: u128) -> Job {
        Job::Print(PrintJob {
            job: JobIdentity {
                uuid: Uuid::from_u128(n),
                name: format!("job {n}"),
                sequence_number: n as u64,
                project_id: None,
                application_id: None,
                custom_field: None,
                account_id: None,
                user_name: None,
                submitted_at: None,
            },
            print: PrintDetails {
                // Whole milliseconds: the wire precision.
                printed_at: DateTime::from_timestamp_millis(1_764_000_000_000).unwrap(),
                status: Default::default(),
                source: Default::default(),
                category: Default::default(),
                quality: Default::default(),
                media_type: None,
                pages: 1,
                copies: 1,
                print_time_s: 0,
                ink: vec![],
                media_area_mm2: 0,
                media_length_mm: 0,
                printed_area_mm2: 0,
                categories: vec![],
                non_white_coverage_bp: 0,
                color_coverage_bp: 0,
            },
        })
    }

    #[tokio::test]
    async fn cursors_and_pending_jobs_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        let store = JobStore::open(&state.printers_dir()).unwrap();
        {
            let mut p = store.lock("CN/ODD serial").await;
            assert_eq!(p.append(vec![job(1), job(2)]), 2);
            assert_eq!(p.append(vec![job(2), job(3)]), 1, "no job pending twice");
            p.cursor.last_sequence = 3;
            store.save(&p).unwrap();
        }
        let reopened = JobStore::open(&state.printers_dir()).unwrap();
        assert_eq!(reopened.serials(), ["CN/ODD serial"]);
        let mut p = reopened.lock("CN/ODD serial").await;
        assert_eq!(p.cursor.last_sequence, 3);
        assert_eq!(p.pending.len(), 3);
        p.remove(
            &[Uuid::from_u128(1), Uuid::from_u128(3)]
                .into_iter()
                .collect(),
        );
        assert_eq!(p.pending, vec![job(2)]);
    }

    #[test]
    fn credentials_are_private_and_keys_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        let keys = SenderKeys::derive(
            b"secret",
            ppu_protocol::envelope::SenderKind::Collector,
            "col-1",
        );
        let c = Credentials::new("https://hub", "acme", "col-1", 7, &keys, Utc::now());
        c.save(&state.credentials_path()).unwrap();
        let back = state.credentials().unwrap();
        assert_eq!(back.keys().unwrap(), keys);
        assert!(!format!("{back:?}").contains(&hex::encode(keys.to_bytes())));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(state.credentials_path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            let mode = std::fs::metadata(dir.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "state directory is private");
        }
        let _lock = state.lock().unwrap();
        let e = state.lock().unwrap_err();
        assert!(
            e.to_string().contains("another ppu-collector is running"),
            "{e}"
        );
    }

    #[test]
    fn pins_are_first_use_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pins.json");
        let pins = PinStore::open(&path).unwrap();
        assert_eq!(pins.get("10.0.0.1:443"), None);
        pins.record("10.0.0.1:443", [1; 32]).unwrap();
        pins.record("10.0.0.1:443", [2; 32]).unwrap();
        assert_eq!(
            PinStore::open(&path).unwrap().get("10.0.0.1:443"),
            Some([1; 32])
        );
    }
}
