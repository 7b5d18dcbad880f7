//! The printer's embedded web server as the Data Collector sees it: HP LEDM
//! XML documents and the job accounting CSV, served read-only.
//!
//! # Resources
//! | path | content |
//! |------|---------|
//! | `/DevMgmt/DiscoveryTree.xml` | the resources below, `dd:ResourceURI` + `dd:ResourceType` |
//! | `/DevMgmt/ProductConfigDyn.xml` | serial, product number, make and model, firmware, print-category settings, accessories |
//! | `/DevMgmt/ProductStatusDyn.xml` | engine status category and the alert table |
//! | `/DevMgmt/ConsumableConfigDyn.xml` | one `ConsumableInfo` per cartridge and printhead |
//! | `/DevMgmt/ProductUsageDyn.xml` | lifetime counters |
//! | `/DevMgmt/MediaHandlingDyn.xml` | media inputs and supported media types with localized names |
//! | `/hp/device/webAccess/accounting.csv?since=N` | job accounting log, jobs with sequence number > N ([`accounting`]) |
//!
//! # Dialects
//! Real firmware generations publish the same documents under namespace URIs
//! with different dates, and prefixes are arbitrary. A printer speaks one
//! [`LedmDialect`]: [`LedmDialect::Classic`] uses 2007-2009 dates and
//! prefixed names everywhere; [`LedmDialect::Modern`] uses later dates,
//! other prefixes and a *default* namespace for each document's own
//! elements. A collector must therefore resolve namespaces and match on the
//! local name plus the namespace *family* (the URI without its date, see
//! [`ns_family`]), never on prefixes or full URIs.
//!
//! # Values and units
//! Quantities are written as `<X><dd:ValueInt>n</dd:ValueInt><dd:Unit>u</dd:Unit></X>`
//! (`squareMillimeters`, `millimeters`) or, for ink,
//! `<X><dd:ValueFloat>12.345</dd:ValueFloat><dd:Unit>milliliters</dd:Unit></X>`
//! with exactly three decimals, so microlitres survive the round trip.
//! Enumerations (consumable state, media source kind and state, severity,
//! print category) use the snake_case identifiers of `ppu_protocol`.
//! `pscat:StatusCategory` maps the engine state: `ready`, `processing`,
//! `inPowerSave`, `initializing`, `attentionRequired` (warning),
//! `serviceRequired` (error), `unknown`.

pub mod accounting;
pub mod server;
pub mod xml;

pub use server::{
    LedmEndpoint, LedmServer, LedmServerConfig, RequestLog, RequestRecord, SharedPrinter,
};

/// Which generation of LEDM namespaces and prefixes a firmware writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedmDialect {
    /// 2007-2009 namespace dates, every element prefixed.
    Classic,
    /// Later namespace dates, different prefixes, default namespace per document.
    Modern,
}

/// One namespace binding: the prefix a dialect uses (empty for the default
/// namespace) and the URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ns {
    /// Prefix, or `""` when the namespace is the default one.
    pub prefix: &'static str,
    /// Namespace URI.
    pub uri: &'static str,
}

/// The namespaces of one dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Namespaces {
    /// Core dictionary (`dd`): serials, product numbers, values and units.
    pub dd: Ns,
    /// Extended dictionary (`dd2`): usage counters, health.
    pub dd2: Ns,
    /// Discovery tree.
    pub ledm: Ns,
    /// Product configuration.
    pub prdcfgdyn: Ns,
    /// Product status.
    pub psdyn: Ns,
    /// Status categories.
    pub pscat: Ns,
    /// Alert details.
    pub ad: Ns,
    /// Consumable configuration.
    pub ccdyn: Ns,
    /// Product usage.
    pub pudyn: Ns,
    /// Media handling.
    pub mhdyn: Ns,
}

/// Namespace family prefixes (URIs without the date), for matching.
pub mod family {
    /// Core and extended dictionaries.
    pub const DICTIONARIES: &str = "http://www.hp.com/schemas/imaging/con/dictionaries/";
    /// Discovery tree.
    pub const DISCOVERY: &str = "http://www.hp.com/schemas/imaging/con/ledm/";
    /// Product configuration.
    pub const PRODUCT_CONFIG: &str = "http://www.hp.com/schemas/imaging/con/ledm/productconfigdyn/";
    /// Product status.
    pub const PRODUCT_STATUS: &str = "http://www.hp.com/schemas/imaging/con/ledm/productstatusdyn/";
    /// Status categories.
    pub const STATUS_CATEGORY: &str =
        "http://www.hp.com/schemas/imaging/con/ledm/productstatuscategories/";
    /// Alert details.
    pub const ALERT_DETAILS: &str = "http://www.hp.com/schemas/imaging/con/ledm/alertdetails/";
    /// Consumable configuration.
    pub const CONSUMABLE_CONFIG: &str =
        "http://www.hp.com/schemas/imaging/con/ledm/consumableconfigdyn/";
    /// Product usage.
    pub const PRODUCT_USAGE: &str = "http://www.hp.com/schemas/imaging/con/ledm/productusagedyn/";
    /// Media handling.
    pub const MEDIA_HANDLING: &str = "http://www.hp.com/schemas/imaging/con/ledm/mediahandlingdyn/";
}

static CLASSIC: Namespaces = Namespaces {
    dd: Ns {
        prefix: "dd",
        uri: "http://www.hp.com/schemas/imaging/con/dictionaries/1.0/",
    },
    dd2: Ns {
        prefix: "dd2",
        uri: "http://www.hp.com/schemas/imaging/con/dictionaries/2008/10/10",
    },
    ledm: Ns {
        prefix: "ledm",
        uri: "http://www.hp.com/schemas/imaging/con/ledm/2007/09/21",
    },
    prdcfgdyn: Ns {
        prefix: "prdcfgdyn",
        uri: "http://www.hp.com/schemas/imaging/con/ledm/productconfigdyn/2007/11/05",
    },
    psdyn: Ns {
        prefix: "psdyn",
        uri: "http://www.hp.com/schemas/imaging/con/ledm/productstatusdyn/2007/10/31",
    },
    pscat: Ns {
        prefix: "pscat",
        uri: "http://www.hp.com/schemas/imaging/con/ledm/productstatuscategories/2007/10/31",
    },
    ad: Ns {
        prefix: "ad",
        uri: "http://www.hp.com/schemas/imaging/con/ledm/alertdetails/2007/10/31",
    },
    ccdyn: Ns {
        prefix: "ccdyn",
        uri: "http://www.hp.com/schemas/imaging/con/ledm/consumableconfigdyn/2007/11/19",
    },
    pudyn: Ns {
        prefix: "pudyn",
        uri: "http://www.hp.com/schemas/imaging/con/ledm/productusagedyn/2007/12/11",
    },
    mhdyn: Ns {
        prefix: "mhdyn",
        uri: "http://www.hp.com/schemas/imaging/con/ledm/mediahandlingdyn/2009/04/06",
    },
};

static MODERN: Namespaces = Namespaces {
    dd: Ns {
        prefix: "dd",
        uri: "http://www.hp.com/schemas/imaging/con/dictionaries/1.0/",
    },
    dd2: Ns {
        prefix: "dd3",
        uri: "http://www.hp.com/schemas/imaging/con/dictionaries/2011/06/14",
    },
    ledm: Ns {
        prefix: "",
        uri: "http://www.hp.com/schemas/imaging/con/ledm/2012/03/02",
    },
    prdcfgdyn: Ns {
        prefix: "",
        uri: "http://www.hp.com/schemas/imaging/con/ledm/productconfigdyn/2009/03/16",
    },
    psdyn: Ns {
        prefix: "",
        uri: "http://www.hp.com/schemas/imaging/con/ledm/productstatusdyn/2010/12/02",
    },
    pscat: Ns {
        prefix: "psc",
        uri: "http://www.hp.com/schemas/imaging/con/ledm/productstatuscategories/2010/11/03",
    },
    ad: Ns {
        prefix: "alt",
        uri: "http://www.hp.com/schemas/imaging/con/ledm/alertdetails/2011/03/10",
    },
    ccdyn: Ns {
        prefix: "",
        uri: "http://www.hp.com/schemas/imaging/con/ledm/consumableconfigdyn/2010/10/19",
    },
    pudyn: Ns {
        prefix: "",
        uri: "http://www.hp.com/schemas/imaging/con/ledm/productusagedyn/2011/08/25",
    },
    mhdyn: Ns {
        prefix: "",
        uri: "http://www.hp.com/schemas/imaging/con/ledm/mediahandlingdyn/2012/06/21",
    },
};

impl LedmDialect {
    /// The namespaces of this dialect.
    pub fn namespaces(self) -> &'static Namespaces {
        match self {
            Self::Classic => &CLASSIC,
            Self::Modern => &MODERN,
        }
    }
}

/// The family of a namespace URI: the URI without a trailing `YYYY/MM/DD` date
/// or `1.0/` version, e.g. `.../ledm/productusagedyn/2007/12/11` ->
/// `.../ledm/productusagedyn/`.
pub fn ns_family(uri: &str) -> &str {
    let trimmed = uri.trim_end_matches('/');
    let parts: Vec<&str> = trimmed.rsplitn(4, '/').collect();
    let is_date = parts.len() == 4
        && parts[0].len() == 2
        && parts[1].len() == 2
        && parts[2].len() == 4
        && parts[..3]
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_digit()));
    if is_date {
        return &uri[..parts[3].len() + 1];
    }
    if let Some(stripped) = trimmed.strip_suffix("1.0") {
        return &uri[..stripped.len()];
    }
    uri
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_strip_dates_and_versions() {
        assert_eq!(
            ns_family("http://www.hp.com/schemas/imaging/con/ledm/productusagedyn/2007/12/11"),
            family::PRODUCT_USAGE
        );
        assert_eq!(ns_family(CLASSIC.dd.uri), family::DICTIONARIES);
        assert_eq!(ns_family(MODERN.dd2.uri), family::DICTIONARIES);
        assert_eq!(ns_family(MODERN.ledm.uri), family::DISCOVERY);
        for d in [LedmDialect::Classic, LedmDialect::Modern] {
            let n = d.namespaces();
            for ns in [
                n.dd,
                n.dd2,
                n.ledm,
                n.prdcfgdyn,
                n.psdyn,
                n.pscat,
                n.ad,
                n.ccdyn,
                n.pudyn,
                n.mhdyn,
            ] {
                assert!(
                    ns.uri.starts_with("http://www.hp.com/schemas/imaging/con/"),
                    "{}",
                    ns.uri
                );
                assert_ne!(ns_family(ns.uri), ns.uri, "{} has no date", ns.uri);
            }
        }
    }
}
