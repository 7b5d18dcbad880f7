//! [`Packed<T>`]: a value kept serialized in memory.
//!
//! A printer actor holds documents it rarely reads (configuration, status,
//! lifetime counters, the device's alert table, usage by category) for up to
//! 100,000 printers at once. Deserialized, each is a tree of small heap
//! allocations (strings, vectors, B-tree nodes) several times larger than its
//! encoded form. `Packed<T>` keeps one boxed byte slice instead: MessagePack
//! with named fields (`rmp_serde::to_vec_named`, so `skip_serializing_if` and
//! defaults behave as in JSON), compressed with LZ4 (`lz4_flex`, size
//! prepended) when that is smaller.
//!
//! In human-readable formats (JSON: API views) it serializes and
//! deserializes *through `T`*: its serde form there is exactly `T`'s. In
//! binary formats (MessagePack: the stored actor snapshots) it is its packed
//! bytes as they are, so saving and loading a snapshot neither unpacks nor
//! packs a document again.

use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// First byte of the encoding: MessagePack as is.
const RAW: u8 = 0;
/// First byte of the encoding: LZ4 block (size prepended) of the MessagePack.
const LZ4: u8 = 1;

/// A `T` kept as compact bytes; see the [module documentation](self).
///
/// `B` is where the bytes live: a box of their own ([`Packed<T>`]), or an
/// interned, reference-counted allocation shared by every equal value
/// ([`Shared<T>`]).
pub struct Packed<T, B = Box<[u8]>> {
    bytes: B,
    _t: PhantomData<fn() -> T>,
}

/// A packed value held once for every holder of the same value.
///
/// Some documents are the same for thousands of printers: a model's catalog
/// of supported media types, with names in five languages, is about a
/// kilobyte packed and identical for every printer of that model and
/// firmware. `Shared<T>` packs like [`Packed`] and then interns the bytes:
/// equal values share one reference-counted allocation, process-wide. Its
/// serde forms are [`Packed`]'s (the value in JSON, the packed bytes in binary
/// forms); reading the binary form interns again.
pub type Shared<T> = Packed<T, Arc<[u8]>>;

/// Where packed bytes are kept (sealed: `Box<[u8]>` and interned `Arc<[u8]>`).
pub trait Storage: sealed::Sealed + Clone + std::ops::Deref<Target = [u8]> {
    /// Keep freshly encoded bytes.
    fn keep(bytes: Vec<u8>) -> Self;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for Box<[u8]> {}
    impl Sealed for std::sync::Arc<[u8]> {}
}

impl Storage for Box<[u8]> {
    fn keep(bytes: Vec<u8>) -> Self {
        bytes.into_boxed_slice()
    }
}

impl Storage for Arc<[u8]> {
    fn keep(bytes: Vec<u8>) -> Self {
        intern(&bytes)
    }
}

/// Encode a value: its MessagePack, LZ4-compressed when that is smaller,
/// behind a one-byte tag.
fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Encoding to a Vec fails only for types MessagePack cannot express
    // (none of the documents packed here).
    let msgpack =
        rmp_serde::to_vec_named(value).expect("a packed document is representable in MessagePack");
    let compressed = lz4_flex::block::compress_prepend_size(&msgpack);
    let mut bytes = Vec::with_capacity(1 + msgpack.len().min(compressed.len()));
    if compressed.len() < msgpack.len() {
        bytes.push(LZ4);
        bytes.extend_from_slice(&compressed);
    } else {
        bytes.push(RAW);
        bytes.extend_from_slice(&msgpack);
    }
    bytes
}

impl<T: Serialize + DeserializeOwned, B: Storage> Packed<T, B> {
    /// Pack a value.
    pub fn new(value: &T) -> Self {
        Self {
            bytes: B::keep(encode(value)),
            _t: PhantomData,
        }
    }

    /// Packed bytes read from a binary form (see [`Packed::bytes`]); only
    /// their tag is checked.
    pub(crate) fn from_bytes<E: serde::de::Error>(bytes: Vec<u8>) -> Result<Self, E> {
        match bytes.first() {
            Some(&RAW | &LZ4) => Ok(Self {
                bytes: B::keep(bytes),
                _t: PhantomData,
            }),
            _ => Err(E::custom("packed bytes without a valid tag")),
        }
    }

    /// The packed bytes, as the binary form carries them.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Unpack the value.
    pub fn get(&self) -> T {
        // The bytes were produced by `encode` from a `T` (or came from a
        // stored snapshot of the same form): decoding cannot fail.
        let decoded = match self.bytes.split_first() {
            Some((&LZ4, rest)) => {
                let msgpack = lz4_flex::block::decompress_size_prepended(rest)
                    .expect("packed bytes are a valid LZ4 block");
                rmp_serde::from_slice(&msgpack)
            }
            Some((_, rest)) => rmp_serde::from_slice(rest),
            None => unreachable!("packed bytes always carry a tag"),
        };
        decoded.expect("packed bytes decode to the type they were packed from")
    }

    /// Change the value: unpack, apply `f`, pack again.
    pub fn update(&mut self, f: impl FnOnce(&mut T)) {
        let mut v = self.get();
        f(&mut v);
        *self = Self::new(&v);
    }

    /// Bytes held on the heap (for a [`Shared`] value, the shared allocation).
    pub fn heap_bytes(&self) -> usize {
        self.bytes.len()
    }
}

impl<T> Shared<T> {
    /// Whether `self` and `other` hold the very same allocation.
    pub fn shares_with(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.bytes, &other.bytes)
    }
}

/// The interned byte strings. An entry nobody else holds any more is dropped
/// when the set has doubled since the last sweep, so the set stays within
/// twice the live distinct values (a device sending a new catalog with every
/// upload cannot grow it without bound).
struct Interner {
    set: HashSet<Arc<[u8]>>,
    sweep_at: usize,
}

static INTERNED: Mutex<Option<Interner>> = Mutex::new(None);

/// Smallest set size at which a sweep runs.
const SWEEP_FLOOR: usize = 64;

fn intern(bytes: &[u8]) -> Arc<[u8]> {
    let mut guard = INTERNED.lock().unwrap_or_else(PoisonError::into_inner);
    let interner = guard.get_or_insert_with(|| Interner {
        set: HashSet::new(),
        sweep_at: SWEEP_FLOOR,
    });
    if let Some(found) = interner.set.get(bytes) {
        return Arc::clone(found);
    }
    if interner.set.len() >= interner.sweep_at {
        interner.set.retain(|b| Arc::strong_count(b) > 1);
        interner.sweep_at = (2 * interner.set.len()).max(SWEEP_FLOOR);
    }
    let shared: Arc<[u8]> = Arc::from(bytes);
    interner.set.insert(Arc::clone(&shared));
    shared
}

impl<T, B: Clone> Clone for Packed<T, B> {
    fn clone(&self) -> Self {
        Self {
            bytes: self.bytes.clone(),
            _t: PhantomData,
        }
    }
}

impl<T: Serialize + DeserializeOwned + Default, B: Storage> Default for Packed<T, B> {
    fn default() -> Self {
        Self::new(&T::default())
    }
}

impl<T: Serialize + DeserializeOwned + PartialEq, B: Storage> PartialEq for Packed<T, B> {
    fn eq(&self, other: &Self) -> bool {
        *self.bytes == *other.bytes || self.get() == other.get()
    }
}

impl<T: Serialize + DeserializeOwned + fmt::Debug, B: Storage> fmt::Debug for Packed<T, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.get().fmt(f)
    }
}

impl<T: Serialize + DeserializeOwned, B: Storage> From<T> for Packed<T, B> {
    fn from(value: T) -> Self {
        Self::new(&value)
    }
}

impl<T: Serialize + DeserializeOwned, B: Storage> Serialize for Packed<T, B> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            self.get().serialize(s)
        } else {
            serde_bytes::Bytes::new(&self.bytes).serialize(s)
        }
    }
}

impl<'de, T: Serialize + DeserializeOwned, B: Storage> Deserialize<'de> for Packed<T, B> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            return T::deserialize(d).map(|v| Self::new(&v));
        }
        // The bytes are taken as they are (decoding them would cost what the
        // binary form saves); only their tag is checked here. Stored forms
        // carry a version (`store::SNAPSHOT_FORM`) for changes of `T`.
        Self::from_bytes(serde_bytes::ByteBuf::deserialize(d)?.into_vec())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
    struct Doc {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        values: Vec<u64>,
        by_key: BTreeMap<String, u64>,
    }

    fn doc(n: usize) -> Doc {
        Doc {
            name: "printer".into(),
            note: n.is_multiple_of(2).then(|| "even".into()),
            values: (0..n as u64).collect(),
            by_key: (0..n).map(|i| (format!("key-{i}"), i as u64)).collect(),
        }
    }

    #[test]
    fn round_trips_small_and_large_values() {
        for n in [0, 1, 3, 50, 400] {
            let d = doc(n);
            let p = Packed::<Doc>::new(&d);
            assert_eq!(p.get(), d, "n = {n}");
        }
    }

    #[test]
    fn large_repetitive_values_are_compressed() {
        // Like a status: arrays of records with the same field names.
        let d: Vec<Doc> = (0..50).map(|_| doc(3)).collect();
        let raw = rmp_serde::to_vec_named(&d).unwrap();
        let p = Packed::<Vec<Doc>>::new(&d);
        assert!(
            p.heap_bytes() < raw.len() / 2,
            "{} vs {}",
            p.heap_bytes(),
            raw.len()
        );
        assert_eq!(p.get(), d);
    }

    #[test]
    fn serde_form_is_the_inner_types() {
        for n in [0, 1, 7] {
            let d = doc(n);
            let p = Packed::<Doc>::new(&d);
            assert_eq!(
                serde_json::to_string(&p).unwrap(),
                serde_json::to_string(&d).unwrap()
            );
            let back: Packed<Doc> =
                serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
            assert_eq!(back.get(), d);
        }
    }

    #[test]
    fn binary_form_is_the_packed_bytes() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct State {
            n: u32,
            doc: Packed<Doc>,
            docs: Option<Packed<Vec<Doc>>>,
        }
        let state = State {
            n: 7,
            doc: Packed::new(&doc(3)),
            docs: Some(Packed::new(&(0..20).map(doc).collect())),
        };
        let bytes = rmp_serde::to_vec_named(&state).unwrap();
        // The packed bytes appear as they are (no second encoding).
        let inner = &state.doc.bytes;
        assert!(bytes.windows(inner.len()).any(|w| w == &inner[..]));
        let back: State = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, state);
        assert_eq!(back.doc.get(), doc(3));
        // JSON (the API form) is still the documents themselves.
        let json = serde_json::to_value(&state).unwrap();
        assert_eq!(json["doc"], serde_json::to_value(doc(3)).unwrap());
        // Bytes without a valid tag are refused, not taken.
        let mut bad = rmp_serde::to_vec_named(&State {
            n: 1,
            doc: Packed {
                bytes: Box::new([9, 1, 2]),
                _t: PhantomData,
            },
            docs: None,
        })
        .unwrap();
        assert!(rmp_serde::from_slice::<State>(&bad).is_err());
        bad.clear();
        assert!(rmp_serde::from_slice::<State>(&bad).is_err());
    }

    #[test]
    fn update_changes_the_value() {
        let mut p = Packed::<Doc>::new(&doc(2));
        p.update(|d| d.values.push(99));
        assert_eq!(p.get().values, vec![0, 1, 99]);
        assert_ne!(p, Packed::new(&doc(2)));
    }

    #[test]
    fn shared_values_are_held_once() {
        let a = Shared::new(&doc(40));
        let b = Shared::new(&doc(40));
        let c = Shared::new(&doc(41));
        assert!(a.shares_with(&b));
        assert!(!a.shares_with(&c));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(b.get(), doc(40));
        // The binary form is the packed bytes; reading it interns again.
        let bytes = rmp_serde::to_vec(&a).unwrap();
        let back: Shared<Doc> = rmp_serde::from_slice(&bytes).unwrap();
        assert!(back.shares_with(&a));
        // JSON is the value itself.
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::to_value(doc(41)).unwrap()
        );
        let from_json: Shared<Doc> =
            serde_json::from_value(serde_json::to_value(doc(40)).unwrap()).unwrap();
        assert!(from_json.shares_with(&a));
    }

    #[test]
    fn values_nobody_holds_are_swept() {
        // Many distinct values, each dropped at once: the set is swept
        // instead of keeping them all.
        for n in 0..1_000u64 {
            let d = Doc {
                name: format!("sweep-{n}"),
                ..Doc::default()
            };
            drop(Shared::new(&d));
        }
        let guard = INTERNED.lock().unwrap();
        let held = guard.as_ref().unwrap().set.len();
        assert!(held < 600, "{held} interned values kept");
    }
}
