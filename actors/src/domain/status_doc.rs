//! [`StatusDoc`]: a printer's latest status as a printer actor keeps it.
//!
//! A status carries the model's catalog of supported media types with names
//! in five languages: the larger part of the document, and the same for every
//! printer of a model and firmware. `StatusDoc` keeps the catalog [`Shared`]
//! (one copy per distinct catalog in the process) and the rest [`Packed`].
//!
//! Serde forms: in JSON (views) the whole [`PrinterStatus`]; in binary forms
//! (stored snapshots) a pair of packed byte strings, the rest and the catalog.
//! A single byte string, the form stored before the catalog was split off
//! (snapshot form 1), is read too: unpacked once and split.

use std::fmt;

use ppu_protocol::model::{MediaTypeInfo, PrinterStatus};
use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::packed::{Packed, Shared};

/// A status with its media catalog shared; see the [module documentation](self).
#[derive(Clone, PartialEq)]
pub struct StatusDoc {
    /// The status without its `supported_media_types`.
    rest: Packed<PrinterStatus>,
    /// The `supported_media_types`.
    media: Shared<Vec<MediaTypeInfo>>,
}

impl StatusDoc {
    /// Keep `status`.
    pub fn new(status: &PrinterStatus) -> Self {
        let rest = PrinterStatus {
            supported_media_types: Vec::new(),
            ..status.clone()
        };
        Self {
            rest: Packed::new(&rest),
            media: Shared::new(&status.supported_media_types),
        }
    }

    /// The whole status.
    pub fn get(&self) -> PrinterStatus {
        PrinterStatus {
            supported_media_types: self.media.get(),
            ..self.rest.get()
        }
    }

    /// Bytes this printer's status holds on the heap by itself (the shared
    /// catalog is not counted).
    pub fn heap_bytes(&self) -> usize {
        self.rest.heap_bytes()
    }

    /// Whether both hold the very same catalog allocation.
    pub fn shares_catalog_with(&self, other: &Self) -> bool {
        self.media.shares_with(&other.media)
    }
}

impl From<PrinterStatus> for StatusDoc {
    fn from(status: PrinterStatus) -> Self {
        Self::new(&status)
    }
}

impl fmt::Debug for StatusDoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.get().fmt(f)
    }
}

impl Serialize for StatusDoc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            return self.get().serialize(s);
        }
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(serde_bytes::Bytes::new(self.rest.bytes()))?;
        t.serialize_element(serde_bytes::Bytes::new(self.media.bytes()))?;
        t.end()
    }
}

impl<'de> Deserialize<'de> for StatusDoc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            return PrinterStatus::deserialize(d).map(|s| Self::new(&s));
        }
        d.deserialize_any(BinaryForm)
    }
}

/// Reads either binary form: the pair (current) or one packed whole status
/// (snapshot form 1).
struct BinaryForm;

impl<'de> Visitor<'de> for BinaryForm {
    type Value = StatusDoc;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a packed status: two byte strings, or one (an earlier form)")
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<StatusDoc, E> {
        self.visit_byte_buf(bytes.to_vec())
    }

    fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<StatusDoc, E> {
        let whole = Packed::<PrinterStatus>::from_bytes::<E>(bytes)?;
        Ok(StatusDoc::new(&whole.get()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StatusDoc, A::Error> {
        let rest: serde_bytes::ByteBuf = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let media: serde_bytes::ByteBuf = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
        Ok(StatusDoc {
            rest: Packed::from_bytes(rest.into_vec())?,
            media: Shared::from_bytes(media.into_vec())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use ppu_protocol::model::{EngineState, EngineStatus};

    use super::*;

    fn status(engine: EngineState, catalog: usize) -> PrinterStatus {
        PrinterStatus {
            engine: EngineStatus {
                state: engine,
                detail: None,
            },
            supported_media_types: (0..catalog)
                .map(|i| MediaTypeInfo {
                    id: format!("media-{i}"),
                    names: BTreeMap::from([
                        ("en".to_owned(), format!("Media {i}")),
                        ("de".to_owned(), format!("Medium {i}")),
                    ]),
                })
                .collect(),
            ..PrinterStatus::default()
        }
    }

    #[test]
    fn the_catalog_is_shared_and_the_status_whole_again() {
        let a = StatusDoc::new(&status(EngineState::Ready, 30));
        let b = StatusDoc::new(&status(EngineState::Printing, 30));
        let c = StatusDoc::new(&status(EngineState::Ready, 31));
        assert!(a.shares_catalog_with(&b));
        assert!(!a.shares_catalog_with(&c));
        assert_eq!(a.get(), status(EngineState::Ready, 30));
        assert_eq!(b.get(), status(EngineState::Printing, 30));
        assert_ne!(a, b);
        // The printer's own bytes no longer carry the catalog.
        assert!(
            a.heap_bytes()
                < Packed::<PrinterStatus>::new(&status(EngineState::Ready, 30)).heap_bytes() / 4
        );
    }

    #[test]
    fn serde_forms() {
        let s = status(EngineState::Warning, 12);
        let doc = StatusDoc::new(&s);
        // JSON: the status itself.
        assert_eq!(
            serde_json::to_value(&doc).unwrap(),
            serde_json::to_value(&s).unwrap()
        );
        let from_json: StatusDoc =
            serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(from_json.get(), s);
        // Binary: the pair of packed byte strings, read back sharing the catalog.
        let bytes = rmp_serde::to_vec_named(&doc).unwrap();
        let back: StatusDoc = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back.get(), s);
        assert!(back.shares_catalog_with(&doc));
        // The earlier binary form: one packed whole status.
        let earlier = rmp_serde::to_vec_named(&Packed::<PrinterStatus>::new(&s)).unwrap();
        let upgraded: StatusDoc = rmp_serde::from_slice(&earlier).unwrap();
        assert_eq!(upgraded.get(), s);
        assert!(upgraded.shares_catalog_with(&doc));
        // Anything else is refused.
        assert!(rmp_serde::from_slice::<StatusDoc>(&rmp_serde::to_vec(&7u32).unwrap()).is_err());
        let one = rmp_serde::to_vec(&(serde_bytes::Bytes::new(doc.rest.bytes()),)).unwrap();
        assert!(rmp_serde::from_slice::<StatusDoc>(&one).is_err());
    }
}
