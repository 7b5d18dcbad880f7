//! The sealed upload: how a [`Payload`] travels from a sender to the hub.
//!
//! # Pipeline
//! ```text
//! Payload --rmp_serde::to_vec_named--> MessagePack (maps with named fields)
//!         --lz4_flex block, size prepended--> LZ4
//!         --AES-128-CBC, PKCS#7, random IV--> ciphertext
//!         --HMAC-SHA256 over everything before the tag--> tag (encrypt-then-MAC)
//! ```
//! [`open`] undoes the steps in the opposite order and checks, in this order:
//! size limit, magic, format version, header and framing, MAC (before
//! anything is decrypted), decryption and padding, decompressed size limit
//! (before the output buffer is allocated), LZ4, schema version (read on its
//! own first, so that a newer schema is reported as such), MessagePack.
//! Replay protection (timestamp window, nonce uniqueness) is the hub's job:
//! this module only authenticates the header so that the hub can trust it.
//!
//! PROTOCOL.md at the repository root describes the same bytes for senders
//! written without this crate, with the test vectors of
//! `protocol/tests/vectors/envelope_v1.json`.
//!
//! # Keys
//! Each sender (collector or direct-connected printer) shares a secret with
//! the hub. The secret never travels: both sides derive two keys from it with
//! HKDF-SHA256 ([`SenderKeys::derive`]), bound to the sender kind and id so
//! that keys derived for one sender never authenticate another one:
//!
//! ```text
//! PRK     = HKDF-Extract(salt = "ppu-hub/envelope/v1", IKM = secret)
//! enc_key = HKDF-Expand(PRK, "ppu-hub/v1/enc" || kind || sender_id, 16)
//! mac_key = HKDF-Expand(PRK, "ppu-hub/v1/mac" || kind || sender_id, 32)
//! ```
//! `kind` is one byte (1 collector, 2 printer), `sender_id` the UTF-8 bytes of
//! the id without a length prefix (it is the last component, so the
//! concatenation is unambiguous).
//!
//! # Layout
//! All integers are big-endian, except the LZ4 size prefix inside the
//! plaintext (little-endian, the convention of `lz4_flex` and of the LZ4
//! reference tools). `N` is the sender id length, `L` the ciphertext length.
//!
//! | offset     | size | field                                                 |
//! |------------|------|-------------------------------------------------------|
//! | 0          | 4    | magic `PPUE` (`50 50 55 45`)                          |
//! | 4          | 1    | format version, `01`                                  |
//! | 5          | 1    | sender kind: `01` collector, `02` printer             |
//! | 6          | 1    | `N`: sender id length in bytes, 1..=128               |
//! | 7          | N    | sender id, UTF-8                                      |
//! | 7+N        | 8    | timestamp, `i64` milliseconds since the Unix epoch    |
//! | 15+N       | 16   | nonce, random                                         |
//! | 31+N       | 16   | IV, random                                            |
//! | 47+N       | 4    | `L`: ciphertext length, `u32`, a positive multiple of 16 |
//! | 51+N       | L    | ciphertext                                            |
//! | 51+N+L     | 32   | tag: HMAC-SHA256(mac_key, bytes `0 .. 51+N+L`)        |
//!
//! Bytes `0 .. 31+N` are the *header* ([`Header`]). The MAC covers every byte
//! before the tag: header, IV, ciphertext length and ciphertext. Nothing may
//! follow the tag. The total length is `83 + N + L`.
//!
//! # Why the LZ4 block format with the size prepended
//! The plaintext is `u32` little-endian uncompressed length followed by one
//! raw LZ4 block (`lz4_flex::compress_prepend_size`). We chose it over the LZ4
//! frame format because:
//! - the declared size comes first, so the decoder checks it against
//!   [`Limits::max_decompressed_bytes`] and only then allocates exactly that
//!   much: a decompression bomb cannot make the hub allocate more than the
//!   limit, and the decoder never grows a buffer;
//! - the frame format's checksums would duplicate the HMAC, which already
//!   authenticates every byte;
//! - it is the simplest thing for firmware: `LZ4_compress_default` from the
//!   reference library plus four bytes.

use std::fmt;
use std::str::FromStr;

use aes::Aes128;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use chrono::{DateTime, Utc};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::model::{Payload, SCHEMA_VERSION};

/// First four bytes of every envelope: ASCII `PPUE`.
pub const MAGIC: [u8; 4] = *b"PPUE";

/// Version of the envelope layout described in this module.
pub const FORMAT_VERSION: u8 = 1;

/// Longest sender id, in UTF-8 bytes.
pub const MAX_SENDER_ID_LEN: usize = 128;

/// Length of the header nonce.
pub const NONCE_LEN: usize = 16;

/// Length of the AES-CBC initialization vector.
pub const IV_LEN: usize = 16;

/// Length of the HMAC-SHA256 tag.
pub const TAG_LEN: usize = 32;

/// Length of the AES-128 key.
pub const ENC_KEY_LEN: usize = 16;

/// Length of the HMAC-SHA256 key.
pub const MAC_KEY_LEN: usize = 32;

/// HKDF salt: a fixed protocol label, so that the same secret used by another
/// protocol would give unrelated keys.
pub const KDF_SALT: &[u8] = b"ppu-hub/envelope/v1";

/// HKDF info prefix of the AES key (followed by the sender kind byte and id).
pub const KDF_INFO_ENC: &[u8] = b"ppu-hub/v1/enc";

/// HKDF info prefix of the MAC key (followed by the sender kind byte and id).
pub const KDF_INFO_MAC: &[u8] = b"ppu-hub/v1/mac";

/// Default of [`Limits::max_envelope_bytes`]: 1 MiB, ten times the 100 KB
/// an upload is promised to stay under.
pub const DEFAULT_MAX_ENVELOPE_BYTES: usize = 1024 * 1024;

/// Default of [`Limits::max_decompressed_bytes`]: 16 MiB.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 16 * 1024 * 1024;

/// Deepest MessagePack nesting accepted in a payload. The schema itself
/// nests 8 levels; the headroom is for unknown fields of newer senders. The
/// bound keeps a hostile (but authenticated) payload from recursing deep
/// enough to overflow the decoder's stack.
pub const MAX_PAYLOAD_DEPTH: usize = 32;

/// Fixed bytes of the header besides the sender id: magic, version, kind,
/// id length, timestamp, nonce.
const HEADER_FIXED_LEN: usize = 4 + 1 + 1 + 1 + 8 + NONCE_LEN;

/// AES block size: the ciphertext length is a multiple of it.
const BLOCK_LEN: usize = 16;

type Aes128CbcEnc = cbc::Encryptor<Aes128>;
type Aes128CbcDec = cbc::Decryptor<Aes128>;
type HmacSha256 = Hmac<Sha256>;

// ---------------------------------------------------------------------------
// Sender kind
// ---------------------------------------------------------------------------

/// Who sealed an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SenderKind {
    /// A Data Collector uploading for all collected printers of its site.
    Collector,
    /// A direct-connected printer uploading for itself.
    Printer,
}

impl SenderKind {
    /// Every sender kind.
    pub const ALL: [SenderKind; 2] = [Self::Collector, Self::Printer];

    /// The identifier used in JSON, configuration and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Collector => "collector",
            Self::Printer => "printer",
        }
    }

    /// The byte used in the envelope header and in key derivation.
    pub fn as_u8(self) -> u8 {
        match self {
            Self::Collector => 1,
            Self::Printer => 2,
        }
    }

    /// The kind encoded by `byte`, if any.
    pub fn from_u8(byte: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_u8() == byte)
    }
}

impl fmt::Display for SenderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error of [`SenderKind::from_str`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown sender kind `{0}` (expected collector or printer)")]
pub struct ParseSenderKindError(pub String);

impl FromStr for SenderKind {
    type Err = ParseSenderKindError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| ParseSenderKindError(s.to_owned()))
    }
}

// ---------------------------------------------------------------------------
// Header
// ---------------------------------------------------------------------------

/// The authenticated, unencrypted part of an envelope.
///
/// The hub reads it before it has the keys ([`peek_header`]) to find the
/// sender, and trusts it only after [`open`] verified the MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Envelope format version ([`FORMAT_VERSION`]).
    pub version: u8,
    /// Who sealed the envelope.
    pub sender_kind: SenderKind,
    /// The sender's id: a collector id or a printer serial number; 1 to
    /// [`MAX_SENDER_ID_LEN`] bytes of UTF-8.
    pub sender_id: String,
    /// When the envelope was sealed. Travels with millisecond precision; the
    /// hub rejects envelopes too far from its clock.
    pub timestamp: DateTime<Utc>,
    /// Random bytes that make every envelope unique; the hub refuses a nonce
    /// it has seen before from the same sender.
    pub nonce: [u8; NONCE_LEN],
}

impl Header {
    /// A header of the current format version with a fresh random nonce.
    ///
    /// The timestamp is truncated to whole milliseconds, its precision on the
    /// wire, so that the header read back by [`open`] compares equal.
    pub fn new(
        sender_kind: SenderKind,
        sender_id: impl Into<String>,
        timestamp: DateTime<Utc>,
    ) -> Self {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        Self::with_nonce(sender_kind, sender_id, timestamp, nonce)
    }

    /// Like [`Header::new`] with a given nonce: for test vectors and tests.
    /// Senders must use [`Header::new`], a repeated nonce is refused.
    pub fn with_nonce(
        sender_kind: SenderKind,
        sender_id: impl Into<String>,
        timestamp: DateTime<Utc>,
        nonce: [u8; NONCE_LEN],
    ) -> Self {
        Self {
            version: FORMAT_VERSION,
            sender_kind,
            sender_id: sender_id.into(),
            timestamp: truncate_to_millis(timestamp),
            nonce,
        }
    }

    /// The header's bytes on the wire (offsets `0 .. 31+N` of the layout).
    ///
    /// # Errors
    /// When the header cannot be encoded: a version other than
    /// [`FORMAT_VERSION`], or a sender id that is empty or too long.
    pub fn to_bytes(&self) -> Result<Vec<u8>, SealError> {
        if self.version != FORMAT_VERSION {
            return Err(SealError::UnsupportedVersion(self.version));
        }
        let id = self.sender_id.as_bytes();
        let id_len = match u8::try_from(id.len()) {
            Ok(0) => return Err(SealError::EmptySenderId),
            Ok(len) if usize::from(len) <= MAX_SENDER_ID_LEN => len,
            _ => {
                return Err(SealError::SenderIdTooLong {
                    len: id.len(),
                    max: MAX_SENDER_ID_LEN,
                });
            }
        };
        let mut out = Vec::with_capacity(HEADER_FIXED_LEN + id.len());
        out.extend_from_slice(&MAGIC);
        out.push(self.version);
        out.push(self.sender_kind.as_u8());
        out.push(id_len);
        out.extend_from_slice(id);
        out.extend_from_slice(&self.timestamp.timestamp_millis().to_be_bytes());
        out.extend_from_slice(&self.nonce);
        Ok(out)
    }
}

fn truncate_to_millis(timestamp: DateTime<Utc>) -> DateTime<Utc> {
    // Every DateTime<Utc> chrono can represent has a millisecond value that
    // converts back, so the fallback is never taken.
    DateTime::from_timestamp_millis(timestamp.timestamp_millis()).unwrap_or(timestamp)
}

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

/// The two keys of one sender, derived from its shared secret.
///
/// `Debug` prints no key bytes, so a `SenderKeys` inside a logged structure
/// leaks nothing. Equality is constant-time.
#[derive(Clone)]
pub struct SenderKeys {
    enc: [u8; ENC_KEY_LEN],
    mac: [u8; MAC_KEY_LEN],
}

impl SenderKeys {
    /// Length of [`SenderKeys::to_bytes`]: AES key then MAC key.
    pub const LEN: usize = ENC_KEY_LEN + MAC_KEY_LEN;

    /// Derive the keys of sender `kind`/`sender_id` from its shared secret
    /// with HKDF-SHA256 (see the module documentation for the exact inputs).
    ///
    /// The secret should be at least 32 random bytes; HKDF accepts any length.
    pub fn derive(secret: &[u8], kind: SenderKind, sender_id: &str) -> Self {
        let hkdf = Hkdf::<Sha256>::new(Some(KDF_SALT), secret);
        let kind = [kind.as_u8()];
        let mut enc = [0u8; ENC_KEY_LEN];
        let mut mac = [0u8; MAC_KEY_LEN];
        // HKDF-SHA256 can produce up to 255 * 32 bytes, far more than asked.
        hkdf.expand_multi_info(&[KDF_INFO_ENC, &kind, sender_id.as_bytes()], &mut enc)
            .expect("16 bytes is a valid hkdf-sha256 output length");
        hkdf.expand_multi_info(&[KDF_INFO_MAC, &kind, sender_id.as_bytes()], &mut mac)
            .expect("32 bytes is a valid hkdf-sha256 output length");
        Self { enc, mac }
    }

    /// The keys as 48 bytes (AES key, then MAC key), for storage by the hub.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..ENC_KEY_LEN].copy_from_slice(&self.enc);
        out[ENC_KEY_LEN..].copy_from_slice(&self.mac);
        out
    }

    /// Keys from the 48 bytes of [`SenderKeys::to_bytes`].
    ///
    /// # Errors
    /// When `bytes` is not exactly [`SenderKeys::LEN`] bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyLengthError> {
        if bytes.len() != Self::LEN {
            return Err(KeyLengthError(bytes.len()));
        }
        let mut enc = [0u8; ENC_KEY_LEN];
        let mut mac = [0u8; MAC_KEY_LEN];
        enc.copy_from_slice(&bytes[..ENC_KEY_LEN]);
        mac.copy_from_slice(&bytes[ENC_KEY_LEN..]);
        Ok(Self { enc, mac })
    }

    fn mac(&self) -> HmacSha256 {
        <HmacSha256 as KeyInit>::new_from_slice(&self.mac).expect("hmac accepts keys of any length")
    }
}

impl fmt::Debug for SenderKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SenderKeys(<redacted>)")
    }
}

impl PartialEq for SenderKeys {
    fn eq(&self, other: &Self) -> bool {
        self.to_bytes().ct_eq(&other.to_bytes()).into()
    }
}

impl Eq for SenderKeys {}

/// Error of [`SenderKeys::from_bytes`]: the slice had the wrong length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("sender keys are {len} bytes, got {0}", len = SenderKeys::LEN)]
pub struct KeyLengthError(pub usize);

// ---------------------------------------------------------------------------
// Limits and errors
// ---------------------------------------------------------------------------

/// Resource limits of the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest envelope accepted, in bytes (default 1 MiB).
    pub max_envelope_bytes: usize,
    /// Largest decompressed payload accepted, in bytes (default 16 MiB). The
    /// decoder never allocates more than this for decompression.
    pub max_decompressed_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_envelope_bytes: DEFAULT_MAX_ENVELOPE_BYTES,
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED_BYTES,
        }
    }
}

/// Why an envelope could not be sealed. Every case is a caller bug.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The header's sender id is empty.
    #[error("sender id must not be empty")]
    EmptySenderId,
    /// The header's sender id is longer than [`MAX_SENDER_ID_LEN`] bytes.
    #[error("sender id is {len} bytes, the limit is {max}")]
    SenderIdTooLong {
        /// Length of the id in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The header's version is not [`FORMAT_VERSION`].
    #[error("cannot seal envelope format version {0}")]
    UnsupportedVersion(u8),
    /// The payload could not be encoded as MessagePack.
    #[error("payload cannot be encoded: {0}")]
    Encode(String),
    /// The payload is too large for the format's 32-bit length fields.
    #[error("payload of {size} bytes is larger than the format allows ({limit} bytes)")]
    PayloadTooLarge {
        /// Size of the encoded payload or ciphertext.
        size: usize,
        /// The format's limit.
        limit: usize,
    },
}

/// Why an envelope was refused. [`DecodeError::code`] is the stable code the
/// hub returns to senders; messages never contain key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The envelope does not start with [`MAGIC`].
    #[error("not a ppu envelope (bad magic)")]
    BadMagic,
    /// The format version byte is not one this decoder knows.
    #[error("unsupported envelope format version {0}")]
    UnsupportedVersion(u8),
    /// The envelope ends before its last field.
    #[error("envelope is truncated")]
    Truncated,
    /// The envelope is larger than [`Limits::max_envelope_bytes`].
    #[error("envelope of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the envelope.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The tag does not match: wrong keys, or the envelope was altered.
    #[error("message authentication failed")]
    BadMac,
    /// The decrypted plaintext does not end in valid PKCS#7 padding.
    #[error("bad padding after decryption")]
    BadPadding,
    /// The payload declares a decompressed size above
    /// [`Limits::max_decompressed_bytes`].
    #[error("payload declares {size} decompressed bytes, the limit is {limit}")]
    DecompressedTooLarge {
        /// Declared decompressed size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The plaintext is not a valid size-prepended LZ4 block.
    #[error("payload is not valid lz4")]
    BadCompression,
    /// The decompressed bytes are not a valid payload document.
    #[error("payload is malformed: {0}")]
    MalformedPayload(String),
    /// The payload's schema version is newer than this decoder's.
    #[error("payload schema version {found} is newer than the supported version {supported}")]
    UnsupportedSchema {
        /// `schema_version` of the payload.
        found: u16,
        /// The newest version this decoder supports ([`SCHEMA_VERSION`]).
        supported: u16,
    },
    /// A header or framing field is invalid (unknown sender kind, sender id
    /// not UTF-8, bad ciphertext length, trailing bytes, ...).
    #[error("bad envelope header: {0}")]
    BadHeader(String),
}

impl DecodeError {
    /// Every code [`DecodeError::code`] can return.
    pub const CODES: [&'static str; 11] = [
        "bad_magic",
        "unsupported_version",
        "truncated",
        "too_large",
        "bad_mac",
        "bad_padding",
        "decompressed_too_large",
        "bad_compression",
        "malformed_payload",
        "unsupported_schema",
        "bad_header",
    ];

    /// Stable snake_case code, returned to senders in the error body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadMagic => "bad_magic",
            Self::UnsupportedVersion(_) => "unsupported_version",
            Self::Truncated => "truncated",
            Self::TooLarge { .. } => "too_large",
            Self::BadMac => "bad_mac",
            Self::BadPadding => "bad_padding",
            Self::DecompressedTooLarge { .. } => "decompressed_too_large",
            Self::BadCompression => "bad_compression",
            Self::MalformedPayload(_) => "malformed_payload",
            Self::UnsupportedSchema { .. } => "unsupported_schema",
            Self::BadHeader(_) => "bad_header",
        }
    }
}

// ---------------------------------------------------------------------------
// Sealing
// ---------------------------------------------------------------------------

/// Seal `payload` for the sender described by `header`, with a random IV.
///
/// # Errors
/// See [`SealError`]: an invalid header or an unencodable payload.
pub fn seal(header: &Header, payload: &Payload, keys: &SenderKeys) -> Result<Vec<u8>, SealError> {
    seal_with_iv(header, payload, keys, random_iv())
}

/// [`seal`] with a given IV, for test vectors. A sender must never reuse an
/// IV with the same key; use [`seal`].
///
/// # Errors
/// See [`SealError`].
pub fn seal_with_iv(
    header: &Header,
    payload: &Payload,
    keys: &SenderKeys,
    iv: [u8; IV_LEN],
) -> Result<Vec<u8>, SealError> {
    let msgpack = encode_payload(payload)?;
    seal_bytes_with_iv(header, &msgpack, keys, iv)
}

/// Seal already encoded MessagePack bytes (with a random IV): for tests with
/// payloads this crate would not produce, e.g. from newer senders.
///
/// # Errors
/// See [`SealError`].
pub fn seal_bytes(
    header: &Header,
    msgpack: &[u8],
    keys: &SenderKeys,
) -> Result<Vec<u8>, SealError> {
    seal_bytes_with_iv(header, msgpack, keys, random_iv())
}

/// [`seal_bytes`] with a given IV.
///
/// # Errors
/// See [`SealError`].
pub fn seal_bytes_with_iv(
    header: &Header,
    msgpack: &[u8],
    keys: &SenderKeys,
    iv: [u8; IV_LEN],
) -> Result<Vec<u8>, SealError> {
    let mut out = header.to_bytes()?;
    // The LZ4 size prefix is a u32.
    if u32::try_from(msgpack.len()).is_err() {
        return Err(SealError::PayloadTooLarge {
            size: msgpack.len(),
            limit: u32::MAX as usize,
        });
    }
    let compressed = lz4_flex::block::compress_prepend_size(msgpack);
    let ciphertext =
        Aes128CbcEnc::new(&keys.enc.into(), &iv.into()).encrypt_padded_vec::<Pkcs7>(&compressed);
    let ciphertext_len =
        u32::try_from(ciphertext.len()).map_err(|_| SealError::PayloadTooLarge {
            size: ciphertext.len(),
            limit: u32::MAX as usize,
        })?;
    out.reserve(IV_LEN + 4 + ciphertext.len() + TAG_LEN);
    out.extend_from_slice(&iv);
    out.extend_from_slice(&ciphertext_len.to_be_bytes());
    out.extend_from_slice(&ciphertext);
    let tag = keys.mac().chain_update(&out).finalize().into_bytes();
    out.extend_from_slice(&tag);
    Ok(out)
}

/// The MessagePack encoding of `payload` that [`seal`] compresses and
/// encrypts: structs as maps with named fields.
///
/// # Errors
/// [`SealError::Encode`] if serde fails, which the model's types never do.
pub fn encode_payload(payload: &Payload) -> Result<Vec<u8>, SealError> {
    rmp_serde::to_vec_named(payload).map_err(|e| SealError::Encode(e.to_string()))
}

fn random_iv() -> [u8; IV_LEN] {
    let mut iv = [0u8; IV_LEN];
    rand::rng().fill_bytes(&mut iv);
    iv
}

// ---------------------------------------------------------------------------
// Opening
// ---------------------------------------------------------------------------

/// Parse the header of `bytes` without checking the MAC: the hub uses it to
/// find the sender's keys before calling [`open`].
///
/// Checks the size limit and the whole framing (the same checks, in the same
/// order, as [`open`] before the MAC), so an envelope accepted here has the
/// right shape; nothing it returns is authenticated.
///
/// # Errors
/// [`DecodeError::TooLarge`], [`DecodeError::BadMagic`],
/// [`DecodeError::UnsupportedVersion`], [`DecodeError::Truncated`] or
/// [`DecodeError::BadHeader`].
pub fn peek_header(bytes: &[u8], limits: &Limits) -> Result<Header, DecodeError> {
    parse(bytes, limits).map(|parsed| parsed.header)
}

/// Verify and decrypt an envelope, and decode its payload.
///
/// # Errors
/// Any [`DecodeError`], the first failing check in the order of the module
/// documentation.
pub fn open(
    bytes: &[u8],
    keys: &SenderKeys,
    limits: &Limits,
) -> Result<(Header, Payload), DecodeError> {
    let (header, msgpack) = open_bytes(bytes, keys, limits)?;
    let payload = decode_payload(&msgpack)?;
    Ok((header, payload))
}

/// Verify, decrypt and decompress an envelope, returning the MessagePack
/// bytes without decoding them (the counterpart of [`seal_bytes`]).
///
/// # Errors
/// Any [`DecodeError`] up to [`DecodeError::BadCompression`].
pub fn open_bytes(
    bytes: &[u8],
    keys: &SenderKeys,
    limits: &Limits,
) -> Result<(Header, Vec<u8>), DecodeError> {
    let parsed = parse(bytes, limits)?;
    // verify_slice compares in constant time; nothing is decrypted before.
    keys.mac()
        .chain_update(parsed.authenticated)
        .verify_slice(parsed.tag)
        .map_err(|_| DecodeError::BadMac)?;
    let compressed = Aes128CbcDec::new(&keys.enc.into(), &parsed.iv.into())
        .decrypt_padded_vec::<Pkcs7>(parsed.ciphertext)
        .map_err(|_| DecodeError::BadPadding)?;
    let msgpack = decompress(&compressed, limits.max_decompressed_bytes)?;
    Ok((parsed.header, msgpack))
}

/// Decode a MessagePack payload: check its schema version, then decode it,
/// tolerating unknown fields and enum values.
///
/// The schema version is read first, on its own, so that a payload of a newer
/// schema is reported as [`DecodeError::UnsupportedSchema`] even when it
/// would not decode as this version's [`Payload`].
///
/// # Errors
/// [`DecodeError::MalformedPayload`] or [`DecodeError::UnsupportedSchema`].
pub fn decode_payload(msgpack: &[u8]) -> Result<Payload, DecodeError> {
    /// The one field every schema version has.
    #[derive(Deserialize)]
    struct SchemaProbe {
        schema_version: u16,
    }

    let probe: SchemaProbe = decode_exact(msgpack)?;
    if probe.schema_version == 0 {
        return Err(DecodeError::MalformedPayload(
            "schema_version 0 does not exist".to_owned(),
        ));
    }
    if probe.schema_version > SCHEMA_VERSION {
        return Err(DecodeError::UnsupportedSchema {
            found: probe.schema_version,
            supported: SCHEMA_VERSION,
        });
    }
    decode_exact(msgpack)
}

/// Decode one MessagePack value that must span all of `msgpack`.
fn decode_exact<'de, T: Deserialize<'de>>(msgpack: &'de [u8]) -> Result<T, DecodeError> {
    // A `&[u8]` reader (rather than `from_slice`) because it exposes what is
    // left, for the trailing-bytes check; it copies strings in chunks as it
    // reads them, never allocating a declared length up front.
    let mut de = rmp_serde::Deserializer::new(msgpack);
    de.set_max_depth(MAX_PAYLOAD_DEPTH);
    let value =
        T::deserialize(&mut de).map_err(|e| DecodeError::MalformedPayload(e.to_string()))?;
    let trailing = de.get_ref().len();
    if trailing != 0 {
        return Err(DecodeError::MalformedPayload(format!(
            "{trailing} trailing bytes after the payload"
        )));
    }
    Ok(value)
}

/// Undo `lz4_flex::block::compress_prepend_size`, allocating at most `limit`.
fn decompress(compressed: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let (size, block) =
        lz4_flex::block::uncompressed_size(compressed).map_err(|_| DecodeError::BadCompression)?;
    // The check that makes bombs harmless: before the allocation.
    if size > limit {
        return Err(DecodeError::DecompressedTooLarge { size, limit });
    }
    let mut out = vec![0u8; size];
    let written = lz4_flex::block::decompress_into(block, &mut out)
        .map_err(|_| DecodeError::BadCompression)?;
    if written != size {
        return Err(DecodeError::BadCompression);
    }
    Ok(out)
}

/// An envelope split into its fields; nothing verified yet.
struct Parsed<'a> {
    header: Header,
    iv: [u8; IV_LEN],
    ciphertext: &'a [u8],
    /// Every byte before the tag: the MAC input.
    authenticated: &'a [u8],
    tag: &'a [u8],
}

fn parse<'a>(bytes: &'a [u8], limits: &Limits) -> Result<Parsed<'a>, DecodeError> {
    if bytes.len() > limits.max_envelope_bytes {
        return Err(DecodeError::TooLarge {
            size: bytes.len(),
            limit: limits.max_envelope_bytes,
        });
    }
    // A strict prefix of the magic is a truncated envelope, anything else
    // that differs is not an envelope at all.
    let seen = bytes.len().min(MAGIC.len());
    if bytes[..seen] != MAGIC[..seen] {
        return Err(DecodeError::BadMagic);
    }
    let mut reader = Reader { bytes, pos: 0 };
    reader.take(MAGIC.len())?;
    let version = reader.u8()?;
    if version != FORMAT_VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let kind_byte = reader.u8()?;
    let sender_kind = SenderKind::from_u8(kind_byte)
        .ok_or_else(|| DecodeError::BadHeader(format!("unknown sender kind {kind_byte}")))?;
    let id_len = usize::from(reader.u8()?);
    if id_len == 0 {
        return Err(DecodeError::BadHeader("empty sender id".to_owned()));
    }
    if id_len > MAX_SENDER_ID_LEN {
        return Err(DecodeError::BadHeader(format!(
            "sender id of {id_len} bytes, the limit is {MAX_SENDER_ID_LEN}"
        )));
    }
    let sender_id = std::str::from_utf8(reader.take(id_len)?)
        .map_err(|_| DecodeError::BadHeader("sender id is not utf-8".to_owned()))?
        .to_owned();
    let millis = i64::from_be_bytes(reader.array()?);
    let timestamp = DateTime::from_timestamp_millis(millis)
        .ok_or_else(|| DecodeError::BadHeader(format!("timestamp {millis} out of range")))?;
    let nonce = reader.array()?;
    let iv = reader.array()?;
    let ciphertext_len = u32::from_be_bytes(reader.array()?);
    // usize is at least 32 bits on every target we build for.
    let ciphertext_len = usize::try_from(ciphertext_len).map_err(|_| DecodeError::Truncated)?;
    if ciphertext_len == 0 || ciphertext_len % BLOCK_LEN != 0 {
        return Err(DecodeError::BadHeader(format!(
            "ciphertext length {ciphertext_len} is not a positive multiple of {BLOCK_LEN}"
        )));
    }
    let ciphertext = reader.take(ciphertext_len)?;
    let tag_start = reader.pos;
    let tag = reader.take(TAG_LEN)?;
    let trailing = bytes.len() - reader.pos;
    if trailing != 0 {
        return Err(DecodeError::BadHeader(format!(
            "{trailing} trailing bytes after the tag"
        )));
    }
    Ok(Parsed {
        header: Header {
            version,
            sender_kind,
            sender_id,
            timestamp,
            nonce,
        },
        iv,
        ciphertext,
        authenticated: &bytes[..tag_start],
        tag,
    })
}

/// A cursor over the envelope; running past the end is [`DecodeError::Truncated`].
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(DecodeError::Truncated)?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
}

// ---------------------------------------------------------------------------
// Upload id
// ---------------------------------------------------------------------------

/// The upload's identity for the hub's ledger and replay check: lowercase
/// hex SHA-256 of the whole envelope.
///
/// A sender that retries sends the same bytes, so the retry has the same id
/// and the hub answers `duplicate: true` instead of counting it twice.
pub fn upload_id(bytes: &[u8]) -> String {
    use fmt::Write as _;
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(digest.len() * 2);
    for byte in digest {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        let at = DateTime::from_timestamp_millis(1_741_944_413_589).unwrap();
        Header::with_nonce(SenderKind::Printer, "SG81A00042", at, [7; NONCE_LEN])
    }

    fn keys() -> SenderKeys {
        SenderKeys::derive(b"unit test secret", SenderKind::Printer, "SG81A00042")
    }

    fn sealed() -> Vec<u8> {
        seal_bytes_with_iv(&header(), b"\x80", &keys(), [9; IV_LEN]).unwrap()
    }

    #[test]
    fn every_code_is_listed_once() {
        let errors = [
            DecodeError::BadMagic,
            DecodeError::UnsupportedVersion(2),
            DecodeError::Truncated,
            DecodeError::TooLarge { size: 2, limit: 1 },
            DecodeError::BadMac,
            DecodeError::BadPadding,
            DecodeError::DecompressedTooLarge { size: 2, limit: 1 },
            DecodeError::BadCompression,
            DecodeError::MalformedPayload(String::new()),
            DecodeError::UnsupportedSchema {
                found: 2,
                supported: 1,
            },
            DecodeError::BadHeader(String::new()),
        ];
        let codes: Vec<_> = errors.iter().map(DecodeError::code).collect();
        assert_eq!(codes, DecodeError::CODES);
    }

    #[test]
    fn header_bytes_follow_the_layout() {
        let bytes = header().to_bytes().unwrap();
        assert_eq!(bytes.len(), HEADER_FIXED_LEN + 10);
        assert_eq!(&bytes[..7], b"PPUE\x01\x02\x0a");
        assert_eq!(&bytes[7..17], b"SG81A00042");
        assert_eq!(&bytes[17..25], &1_741_944_413_589i64.to_be_bytes());
        assert_eq!(&bytes[25..], &[7; NONCE_LEN]);
    }

    #[test]
    fn the_parser_splits_the_fields() {
        let bytes = sealed();
        let parsed = parse(&bytes, &Limits::default()).unwrap();
        assert_eq!(parsed.header, header());
        assert_eq!(parsed.iv, [9; IV_LEN]);
        // `\x80` compresses to 4 + 2 bytes and pads to one block.
        assert_eq!(parsed.ciphertext.len(), BLOCK_LEN);
        assert_eq!(parsed.tag.len(), TAG_LEN);
        assert_eq!(parsed.authenticated.len(), bytes.len() - TAG_LEN);
        assert_eq!(bytes.len(), 83 + 10 + BLOCK_LEN);
    }

    #[test]
    fn the_reader_reports_truncation() {
        let mut reader = Reader {
            bytes: &[1, 2, 3],
            pos: 0,
        };
        assert_eq!(reader.u8(), Ok(1));
        assert_eq!(reader.array::<2>(), Ok([2, 3]));
        assert_eq!(reader.u8(), Err(DecodeError::Truncated));
        assert_eq!(reader.take(usize::MAX).unwrap_err(), DecodeError::Truncated);
    }

    /// The declared size is refused before anything is allocated: with a
    /// `u32::MAX` declaration the call returns at once instead of trying to
    /// zero 4 GiB.
    #[test]
    fn decompression_checks_the_declared_size_first() {
        let mut bomb = u32::MAX.to_le_bytes().to_vec();
        bomb.push(0);
        assert_eq!(
            decompress(&bomb, DEFAULT_MAX_DECOMPRESSED_BYTES),
            Err(DecodeError::DecompressedTooLarge {
                size: u32::MAX as usize,
                limit: DEFAULT_MAX_DECOMPRESSED_BYTES,
            })
        );
        assert_eq!(decompress(&[1, 0], 16), Err(DecodeError::BadCompression));
        let ok = lz4_flex::block::compress_prepend_size(b"hello");
        assert_eq!(decompress(&ok, 5).unwrap(), b"hello");
        assert_eq!(
            decompress(&ok, 4),
            Err(DecodeError::DecompressedTooLarge { size: 5, limit: 4 })
        );
    }

    #[test]
    fn sub_millisecond_precision_is_dropped() {
        let at =
            DateTime::from_timestamp_millis(1_000).unwrap() + chrono::Duration::microseconds(999);
        assert_eq!(truncate_to_millis(at).timestamp_millis(), 1_000);
        assert_eq!(truncate_to_millis(at).timestamp_subsec_nanos(), 0);
        let before_epoch = DateTime::from_timestamp_millis(-1).unwrap();
        assert_eq!(truncate_to_millis(before_epoch), before_epoch);
    }

    #[test]
    fn derived_keys_differ_per_purpose() {
        let bytes = keys().to_bytes();
        assert_ne!(bytes[..ENC_KEY_LEN], bytes[ENC_KEY_LEN..ENC_KEY_LEN * 2]);
        assert_eq!(format!("{:?}", keys()), "SenderKeys(<redacted>)");
    }
}
