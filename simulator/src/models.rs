//! The catalog of simulated printer models and their real-world shape.
//!
//! Every family named in the white paper is here: DesignJet T920, T1500,
//! T2500 MFP, T3500 production MFP, T7100, T7200, Z6200, Z6600, Z6800 and
//! PageWide XL 4000, 4500 (MFP), 5000 and 8000. Each [`ModelSpec`] carries
//! what the telemetry needs: product number and name, ink set with cartridge
//! product numbers and capacities, printheads, media sources, scanner,
//! supported media types with localized names, default print-category
//! thresholds, accessories, and a workload profile that drives the device
//! model in [`crate::device`].
//!
//! Product numbers and capacities follow HP's published supplies where they
//! are known to us; treat them as plausible test data, not as a reference.
//! Capacities are stored in microlitres like everything else in the model.

use ppu_protocol::{JobCategoryThresholds, MediaSourceKind};

/// Printer family; decides job style and the default LEDM behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// HP DesignJet (technical and photo/graphics printers).
    DesignJet,
    /// HP PageWide XL (page-wide-array production printers).
    PageWideXl,
}

/// Identifier of a simulated model; parse from the CLI as e.g. `t1500`, `pwxl-8000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum ModelId {
    /// HP DesignJet T920 ePrinter (36-in).
    T920,
    /// HP DesignJet T1500 ePrinter (36-in).
    T1500,
    /// HP DesignJet T2500 multifunction printer (36-in).
    T2500,
    /// HP DesignJet T3500 production multifunction printer (36-in).
    T3500,
    /// HP DesignJet T7100 (42-in).
    T7100,
    /// HP DesignJet T7200 production printer (42-in).
    T7200,
    /// HP DesignJet Z6200 photo production printer (42-in).
    Z6200,
    /// HP DesignJet Z6600 production printer (60-in).
    Z6600,
    /// HP DesignJet Z6800 photo production printer (60-in).
    Z6800,
    /// HP PageWide XL 4000 (40-in).
    #[value(name = "pwxl-4000")]
    PageWideXl4000,
    /// HP PageWide XL 4500 MFP (40-in, integrated scanner).
    #[value(name = "pwxl-4500")]
    PageWideXl4500,
    /// HP PageWide XL 5000 (40-in).
    #[value(name = "pwxl-5000")]
    PageWideXl5000,
    /// HP PageWide XL 8000 (40-in).
    #[value(name = "pwxl-8000")]
    PageWideXl8000,
}

impl ModelId {
    /// Every model, in catalog order.
    pub const ALL: [ModelId; 13] = [
        Self::T920,
        Self::T1500,
        Self::T2500,
        Self::T3500,
        Self::T7100,
        Self::T7200,
        Self::Z6200,
        Self::Z6600,
        Self::Z6800,
        Self::PageWideXl4000,
        Self::PageWideXl4500,
        Self::PageWideXl5000,
        Self::PageWideXl8000,
    ];

    /// The model's specification.
    pub fn spec(self) -> &'static ModelSpec {
        CATALOG
            .iter()
            .find(|m| m.id == self)
            .expect("every ModelId has a catalog entry (checked by a unit test)")
    }

    /// The CLI / fleet-file identifier, e.g. `t1500` or `pwxl-8000`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::T920 => "t920",
            Self::T1500 => "t1500",
            Self::T2500 => "t2500",
            Self::T3500 => "t3500",
            Self::T7100 => "t7100",
            Self::T7200 => "t7200",
            Self::Z6200 => "z6200",
            Self::Z6600 => "z6600",
            Self::Z6800 => "z6800",
            Self::PageWideXl4000 => "pwxl-4000",
            Self::PageWideXl4500 => "pwxl-4500",
            Self::PageWideXl5000 => "pwxl-5000",
            Self::PageWideXl8000 => "pwxl-8000",
        }
    }
}

impl std::fmt::Display for ModelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ModelId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown model `{s}`"))
    }
}

impl serde::Serialize for ModelId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ModelId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One cartridge product that fits an ink slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CartridgeSpec {
    /// HP product number, e.g. `B3P22A`.
    pub product_number: &'static str,
    /// Product name, e.g. `HP 727 130-ml Matte Black DesignJet Ink Cartridge`.
    pub product_name: &'static str,
    /// Nominal capacity in microlitres.
    pub capacity_ul: u64,
}

/// An ink slot of the printer: one color, one or more cartridge sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InkSlotSpec {
    /// Label code shown on the slot and in LEDM `ConsumableLabelCode` (`MK`, `C`, ...).
    pub label: &'static str,
    /// Ink color identifier (see [`ppu_protocol::InkColor::KNOWN`]).
    pub color: &'static str,
    /// Cartridge products that fit; the first is the most common one.
    pub cartridges: &'static [CartridgeSpec],
}

/// A printhead slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrintheadSpec {
    /// Slot identifier / label code.
    pub slot: &'static str,
    /// Colors the printhead prints.
    pub colors: &'static [&'static str],
    /// HP product number.
    pub product_number: &'static str,
    /// Product name.
    pub product_name: &'static str,
    /// Ink throughput (µl) after which the health metric reaches zero.
    pub life_ul: u64,
}

/// A media input of the printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaSourceSpec {
    /// Identifier (`roll1`, `roll2`, `sheet`, `tray1`).
    pub id: &'static str,
    /// Kind of source.
    pub kind: MediaSourceKind,
}

/// A media type with its localized names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaTypeSpec {
    /// Stable identifier, e.g. `bond`.
    pub id: &'static str,
    /// Names keyed by BCP 47 language tag (at least en, de, fr, es, it).
    pub names: &'static [(&'static str, &'static str)],
    /// Photo / glossy media: printed with photo black on DesignJet models.
    pub photo: bool,
}

impl MediaTypeSpec {
    /// English name.
    pub fn english_name(&self) -> &'static str {
        self.names
            .iter()
            .find(|(lang, _)| *lang == "en")
            .map_or(self.id, |(_, n)| n)
    }
}

/// The integrated scanner of an MFP model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScannerSpec {
    /// Widest original the scanner takes, in mm.
    pub max_width_mm: u32,
}

/// An accessory of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessorySpec {
    /// Name, e.g. `Stacker`.
    pub name: &'static str,
    /// Product number when it is sold separately.
    pub product_number: Option<&'static str>,
    /// Installed on every unit (otherwise installed on some, chosen by seed).
    pub standard: bool,
}

/// A kind of work the printer's users do, with its share of the jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobProfile {
    /// Relative weight among the model's profiles.
    pub weight: u32,
    /// Application category identifier (`cad`, `gis`, `office`, `graphics`, `photo`).
    pub category: &'static str,
    /// Application ids submitting such jobs.
    pub applications: &'static [&'static str],
    /// Non-white pixel coverage range, basis points.
    pub coverage_bp: (u16, u16),
    /// Share of the covered pixels that are in color, percent range.
    pub color_share_pct: (u8, u8),
    /// Printed on photo media when the printer has some loaded.
    pub photo_media: bool,
}

/// How busy a model typically is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Workload {
    /// Mean number of jobs in a working day (Mon-Fri 07:00-19:00 UTC).
    pub jobs_per_workday: f64,
    /// Typical pages per job (uniform range).
    pub pages: (u32, u32),
    /// Probability that a job is a large set (drawing sets, plan sets).
    pub set_probability: f64,
    /// Page count range of such sets.
    pub set_pages: (u32, u32),
    /// Share of scan jobs among all jobs on MFP models.
    pub scan_share: f64,
    /// Share of copy jobs among all jobs on MFP models.
    pub copy_share: f64,
    /// Job mix.
    pub profiles: &'static [JobProfile],
}

/// Everything the simulator knows about one model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelSpec {
    /// Catalog identifier.
    pub id: ModelId,
    /// Family.
    pub family: Family,
    /// HP product number of the printer, e.g. `CR356A`.
    pub product_number: &'static str,
    /// Product name, e.g. `HP DesignJet T1500 36-in ePrinter`.
    pub product_name: &'static str,
    /// LEDM `MakeAndModel`.
    pub make_and_model: &'static str,
    /// Firmware family prefix; versions look like `{prefix}_02_41_03.1`.
    pub firmware_prefix: &'static str,
    /// Two-letter serial prefix (HP serials look like `SG63F7A01K`).
    pub serial_prefix: &'static str,
    /// Roll widths this model is commonly loaded with, mm.
    pub roll_widths_mm: &'static [u32],
    /// Length of a new roll, mm.
    pub roll_length_mm: u32,
    /// Ink slots.
    pub inks: &'static [InkSlotSpec],
    /// Printhead slots.
    pub printheads: &'static [PrintheadSpec],
    /// Media inputs.
    pub media_sources: &'static [MediaSourceSpec],
    /// Supported media types.
    pub media_types: &'static [MediaTypeSpec],
    /// Integrated scanner (MFP models).
    pub scanner: Option<ScannerSpec>,
    /// Accessories.
    pub accessories: &'static [AccessorySpec],
    /// Factory default print-category thresholds.
    pub thresholds: JobCategoryThresholds,
    /// Print speed by quality (fast, normal, best, max detail), m² per hour.
    pub speed_m2_per_h: [u32; 4],
    /// Ink laid down at 100 % coverage by quality (fast, normal, best, max detail), µl per m².
    pub ink_ul_per_m2: [u32; 4],
    /// Typical usage.
    pub workload: Workload,
}

impl ModelSpec {
    /// Whether the model has an integrated scanner (scan and copy jobs).
    pub fn is_mfp(&self) -> bool {
        self.scanner.is_some()
    }

    /// The ink slot printing `color`.
    pub fn ink(&self, color: &str) -> Option<&'static InkSlotSpec> {
        self.inks.iter().find(|i| i.color == color)
    }

    /// The media type with identifier `id`.
    pub fn media_type(&self, id: &str) -> Option<&'static MediaTypeSpec> {
        self.media_types.iter().find(|m| m.id == id)
    }

    /// Every cartridge product the model accepts, in slot order.
    pub fn cartridge_types(
        &self,
    ) -> impl Iterator<Item = (&'static InkSlotSpec, &'static CartridgeSpec)> {
        self.inks
            .iter()
            .flat_map(|slot| slot.cartridges.iter().map(move |c| (slot, c)))
    }
}

// ---------------------------------------------------------------------------
// Helpers for the static tables
// ---------------------------------------------------------------------------

const fn ml(ml: u64) -> u64 {
    ml * 1_000
}

const fn cart(
    product_number: &'static str,
    product_name: &'static str,
    capacity_ml: u64,
) -> CartridgeSpec {
    CartridgeSpec {
        product_number,
        product_name,
        capacity_ul: ml(capacity_ml),
    }
}

const fn roll(id: &'static str) -> MediaSourceSpec {
    MediaSourceSpec {
        id,
        kind: MediaSourceKind::Roll,
    }
}

const SHEET: MediaSourceSpec = MediaSourceSpec {
    id: "sheet",
    kind: MediaSourceKind::Sheet,
};

const fn acc(
    name: &'static str,
    product_number: Option<&'static str>,
    standard: bool,
) -> AccessorySpec {
    AccessorySpec {
        name,
        product_number,
        standard,
    }
}

/// HP's factory default print-category thresholds (10 % and 50 % coverage).
const HP_DEFAULT_THRESHOLDS: JobCategoryThresholds = JobCategoryThresholds {
    line_drawing_max_bp: 1_000,
    low_density_max_bp: 5_000,
};

// ---------------------------------------------------------------------------
// Media types
// ---------------------------------------------------------------------------

const BOND: MediaTypeSpec = MediaTypeSpec {
    id: "bond",
    names: &[
        ("en", "Bond and Coated Paper"),
        ("de", "Bond- und gestrichenes Papier"),
        ("fr", "Papier bond et couché"),
        ("es", "Papel bond y recubierto"),
        ("it", "Carta comune e patinata"),
    ],
    photo: false,
};
const PLAIN: MediaTypeSpec = MediaTypeSpec {
    id: "plain",
    names: &[
        ("en", "Plain Paper"),
        ("de", "Normalpapier"),
        ("fr", "Papier ordinaire"),
        ("es", "Papel normal"),
        ("it", "Carta comune"),
    ],
    photo: false,
};
const RECYCLED: MediaTypeSpec = MediaTypeSpec {
    id: "recycled_bond",
    names: &[
        ("en", "Recycled Bond Paper"),
        ("de", "Recycling-Bondpapier"),
        ("fr", "Papier bond recyclé"),
        ("es", "Papel bond reciclado"),
        ("it", "Carta comune riciclata"),
    ],
    photo: false,
};
const COATED: MediaTypeSpec = MediaTypeSpec {
    id: "coated",
    names: &[
        ("en", "Coated Paper"),
        ("de", "Gestrichenes Papier"),
        ("fr", "Papier couché"),
        ("es", "Papel recubierto"),
        ("it", "Carta patinata"),
    ],
    photo: false,
};
const HEAVY_COATED: MediaTypeSpec = MediaTypeSpec {
    id: "heavyweight_coated",
    names: &[
        ("en", "Heavyweight Coated Paper"),
        ("de", "Schweres gestrichenes Papier"),
        ("fr", "Papier couché à fort grammage"),
        ("es", "Papel recubierto de gramaje extra"),
        ("it", "Carta patinata pesante"),
    ],
    photo: false,
};
const TRACING: MediaTypeSpec = MediaTypeSpec {
    id: "natural_tracing",
    names: &[
        ("en", "Natural Tracing Paper"),
        ("de", "Natürliches Transparentpapier"),
        ("fr", "Papier calque naturel"),
        ("es", "Papel de calco natural"),
        ("it", "Carta da lucido naturale"),
    ],
    photo: false,
};
const VELLUM: MediaTypeSpec = MediaTypeSpec {
    id: "vellum",
    names: &[
        ("en", "Vellum"),
        ("de", "Pergamentpapier"),
        ("fr", "Papier vélin"),
        ("es", "Papel vegetal"),
        ("it", "Carta velina"),
    ],
    photo: false,
};
const CLEAR_FILM: MediaTypeSpec = MediaTypeSpec {
    id: "clear_film",
    names: &[
        ("en", "Clear Film"),
        ("de", "Transparente Folie"),
        ("fr", "Film transparent"),
        ("es", "Película transparente"),
        ("it", "Pellicola trasparente"),
    ],
    photo: false,
};
const PHOTO_GLOSS: MediaTypeSpec = MediaTypeSpec {
    id: "photo_gloss",
    names: &[
        ("en", "Photo Gloss Paper"),
        ("de", "Fotoglanzpapier"),
        ("fr", "Papier photo brillant"),
        ("es", "Papel fotográfico brillante"),
        ("it", "Carta fotografica lucida"),
    ],
    photo: true,
};
const PHOTO_SATIN: MediaTypeSpec = MediaTypeSpec {
    id: "photo_satin",
    names: &[
        ("en", "Photo Satin Paper"),
        ("de", "Seidenmattes Fotopapier"),
        ("fr", "Papier photo satiné"),
        ("es", "Papel fotográfico satinado"),
        ("it", "Carta fotografica satinata"),
    ],
    photo: true,
};
const POLYPROPYLENE: MediaTypeSpec = MediaTypeSpec {
    id: "polypropylene",
    names: &[
        ("en", "Polypropylene"),
        ("de", "Polypropylen"),
        ("fr", "Polypropylène"),
        ("es", "Polipropileno"),
        ("it", "Polipropilene"),
    ],
    photo: true,
};
const CANVAS: MediaTypeSpec = MediaTypeSpec {
    id: "canvas",
    names: &[
        ("en", "Canvas"),
        ("de", "Leinwand"),
        ("fr", "Toile"),
        ("es", "Lienzo"),
        ("it", "Tela"),
    ],
    photo: true,
};
const BACKLIT: MediaTypeSpec = MediaTypeSpec {
    id: "backlit_film",
    names: &[
        ("en", "Backlit Film"),
        ("de", "Backlit-Folie"),
        ("fr", "Film rétroéclairé"),
        ("es", "Película retroiluminada"),
        ("it", "Pellicola retroilluminata"),
    ],
    photo: true,
};
const ADHESIVE_VINYL: MediaTypeSpec = MediaTypeSpec {
    id: "adhesive_vinyl",
    names: &[
        ("en", "Self-adhesive Vinyl"),
        ("de", "Selbstklebendes Vinyl"),
        ("fr", "Vinyle adhésif"),
        ("es", "Vinilo adhesivo"),
        ("it", "Vinile adesivo"),
    ],
    photo: true,
};

const TECHNICAL_MEDIA: &[MediaTypeSpec] = &[
    BOND,
    PLAIN,
    RECYCLED,
    COATED,
    HEAVY_COATED,
    TRACING,
    VELLUM,
    CLEAR_FILM,
    PHOTO_GLOSS,
    PHOTO_SATIN,
];
const PRODUCTION_TECHNICAL_MEDIA: &[MediaTypeSpec] =
    &[BOND, PLAIN, RECYCLED, COATED, HEAVY_COATED, TRACING, VELLUM];
const PHOTO_MEDIA: &[MediaTypeSpec] = &[
    PHOTO_GLOSS,
    PHOTO_SATIN,
    COATED,
    HEAVY_COATED,
    POLYPROPYLENE,
    CANVAS,
    BACKLIT,
    ADHESIVE_VINYL,
];
const PAGEWIDE_MEDIA: &[MediaTypeSpec] = &[PLAIN, BOND, RECYCLED, COATED, TRACING, VELLUM];

// ---------------------------------------------------------------------------
// Job profiles
// ---------------------------------------------------------------------------

const CAD: JobProfile = JobProfile {
    weight: 60,
    category: "cad",
    applications: &[
        "AutoCAD 2024",
        "Revit 2025",
        "MicroStation",
        "ArchiCAD 27",
        "HP Click",
    ],
    coverage_bp: (150, 1_400),
    color_share_pct: (5, 60),
    photo_media: false,
};
const GIS: JobProfile = JobProfile {
    weight: 12,
    category: "gis",
    applications: &["ArcGIS Pro", "QGIS", "Global Mapper"],
    coverage_bp: (1_500, 7_000),
    color_share_pct: (50, 95),
    photo_media: false,
};
const OFFICE: JobProfile = JobProfile {
    weight: 15,
    category: "office",
    applications: &[
        "Adobe Acrobat",
        "Microsoft PowerPoint",
        "Microsoft Excel",
        "HP Smart",
    ],
    coverage_bp: (500, 4_500),
    color_share_pct: (20, 80),
    photo_media: false,
};
const GRAPHICS: JobProfile = JobProfile {
    weight: 10,
    category: "graphics",
    applications: &[
        "Adobe Illustrator",
        "Adobe InDesign",
        "HP Click",
        "SketchUp",
    ],
    coverage_bp: (3_500, 9_500),
    color_share_pct: (60, 98),
    photo_media: true,
};
const PHOTO: JobProfile = JobProfile {
    weight: 3,
    category: "photo",
    applications: &["Adobe Photoshop", "Adobe Lightroom", "Capture One"],
    coverage_bp: (7_000, 10_000),
    color_share_pct: (70, 99),
    photo_media: true,
};
const TECHNICAL_PROFILES: &[JobProfile] = &[CAD, GIS, OFFICE, GRAPHICS, PHOTO];
const PRODUCTION_PROFILES: &[JobProfile] = &[
    JobProfile { weight: 75, ..CAD },
    JobProfile { weight: 15, ..GIS },
    JobProfile {
        weight: 10,
        ..OFFICE
    },
];
const PHOTO_PROFILES: &[JobProfile] = &[
    JobProfile {
        weight: 55,
        ..GRAPHICS
    },
    JobProfile {
        weight: 35,
        ..PHOTO
    },
    JobProfile { weight: 10, ..GIS },
];

// ---------------------------------------------------------------------------
// Ink sets
// ---------------------------------------------------------------------------

/// HP 727 platform (T920, T1500, T2500, T3500): six inks, one printhead.
const INKS_727: &[InkSlotSpec] = &[
    InkSlotSpec {
        label: "MK",
        color: "matte_black",
        cartridges: &[
            cart(
                "B3P22A",
                "HP 727 130-ml Matte Black DesignJet Ink Cartridge",
                130,
            ),
            cart(
                "C1Q12A",
                "HP 727 300-ml Matte Black DesignJet Ink Cartridge",
                300,
            ),
        ],
    },
    InkSlotSpec {
        label: "PK",
        color: "photo_black",
        cartridges: &[
            cart(
                "B3P23A",
                "HP 727 130-ml Photo Black DesignJet Ink Cartridge",
                130,
            ),
            cart(
                "F9J79A",
                "HP 727 300-ml Photo Black DesignJet Ink Cartridge",
                300,
            ),
        ],
    },
    InkSlotSpec {
        label: "G",
        color: "gray",
        cartridges: &[
            cart("B3P24A", "HP 727 130-ml Gray DesignJet Ink Cartridge", 130),
            cart("F9J80A", "HP 727 300-ml Gray DesignJet Ink Cartridge", 300),
        ],
    },
    InkSlotSpec {
        label: "C",
        color: "cyan",
        cartridges: &[
            cart("B3P19A", "HP 727 130-ml Cyan DesignJet Ink Cartridge", 130),
            cart("F9J76A", "HP 727 300-ml Cyan DesignJet Ink Cartridge", 300),
        ],
    },
    InkSlotSpec {
        label: "M",
        color: "magenta",
        cartridges: &[
            cart(
                "B3P20A",
                "HP 727 130-ml Magenta DesignJet Ink Cartridge",
                130,
            ),
            cart(
                "F9J77A",
                "HP 727 300-ml Magenta DesignJet Ink Cartridge",
                300,
            ),
        ],
    },
    InkSlotSpec {
        label: "Y",
        color: "yellow",
        cartridges: &[
            cart(
                "B3P21A",
                "HP 727 130-ml Yellow DesignJet Ink Cartridge",
                130,
            ),
            cart(
                "F9J78A",
                "HP 727 300-ml Yellow DesignJet Ink Cartridge",
                300,
            ),
        ],
    },
];
const HEADS_727: &[PrintheadSpec] = &[PrintheadSpec {
    slot: "PH",
    colors: &[
        "matte_black",
        "photo_black",
        "gray",
        "cyan",
        "magenta",
        "yellow",
    ],
    product_number: "B3P06A",
    product_name: "HP 727 DesignJet Printhead",
    life_ul: ml(4_000),
}];

/// HP 761 platform (T7100, T7200): six inks, four dual-color printheads.
const INKS_761: &[InkSlotSpec] = &[
    InkSlotSpec {
        label: "MK",
        color: "matte_black",
        cartridges: &[cart(
            "CM997A",
            "HP 761 775-ml Matte Black DesignJet Ink Cartridge",
            775,
        )],
    },
    InkSlotSpec {
        label: "DG",
        color: "dark_gray",
        cartridges: &[cart(
            "CM996A",
            "HP 761 400-ml Dark Gray DesignJet Ink Cartridge",
            400,
        )],
    },
    InkSlotSpec {
        label: "G",
        color: "gray",
        cartridges: &[cart(
            "CM995A",
            "HP 761 400-ml Gray DesignJet Ink Cartridge",
            400,
        )],
    },
    InkSlotSpec {
        label: "C",
        color: "cyan",
        cartridges: &[cart(
            "CM994A",
            "HP 761 400-ml Cyan DesignJet Ink Cartridge",
            400,
        )],
    },
    InkSlotSpec {
        label: "M",
        color: "magenta",
        cartridges: &[cart(
            "CM993A",
            "HP 761 400-ml Magenta DesignJet Ink Cartridge",
            400,
        )],
    },
    InkSlotSpec {
        label: "Y",
        color: "yellow",
        cartridges: &[cart(
            "CM992A",
            "HP 761 400-ml Yellow DesignJet Ink Cartridge",
            400,
        )],
    },
];
const HEADS_761: &[PrintheadSpec] = &[
    PrintheadSpec {
        slot: "MK-MK",
        colors: &["matte_black"],
        product_number: "CH648A",
        product_name: "HP 761 Matte Black/Matte Black DesignJet Printhead",
        life_ul: ml(9_000),
    },
    PrintheadSpec {
        slot: "G-DG",
        colors: &["gray", "dark_gray"],
        product_number: "CH647A",
        product_name: "HP 761 Gray/Dark Gray DesignJet Printhead",
        life_ul: ml(6_000),
    },
    PrintheadSpec {
        slot: "M-C",
        colors: &["magenta", "cyan"],
        product_number: "CH646A",
        product_name: "HP 761 Magenta/Cyan DesignJet Printhead",
        life_ul: ml(6_000),
    },
    PrintheadSpec {
        slot: "Y-Y",
        colors: &["yellow"],
        product_number: "CH645A",
        product_name: "HP 761 Yellow/Yellow DesignJet Printhead",
        life_ul: ml(6_000),
    },
];

/// HP 771 platform (Z6200): eight inks, four dual-color printheads.
const INKS_771: &[InkSlotSpec] = &[
    InkSlotSpec {
        label: "MK",
        color: "matte_black",
        cartridges: &[cart(
            "CE037A",
            "HP 771 775-ml Matte Black DesignJet Ink Cartridge",
            775,
        )],
    },
    InkSlotSpec {
        label: "CR",
        color: "chromatic_red",
        cartridges: &[cart(
            "CE038A",
            "HP 771 775-ml Chromatic Red DesignJet Ink Cartridge",
            775,
        )],
    },
    InkSlotSpec {
        label: "M",
        color: "magenta",
        cartridges: &[cart(
            "CE039A",
            "HP 771 775-ml Magenta DesignJet Ink Cartridge",
            775,
        )],
    },
    InkSlotSpec {
        label: "Y",
        color: "yellow",
        cartridges: &[cart(
            "CE040A",
            "HP 771 775-ml Yellow DesignJet Ink Cartridge",
            775,
        )],
    },
    InkSlotSpec {
        label: "LM",
        color: "light_magenta",
        cartridges: &[cart(
            "CE041A",
            "HP 771 775-ml Light Magenta DesignJet Ink Cartridge",
            775,
        )],
    },
    InkSlotSpec {
        label: "LC",
        color: "light_cyan",
        cartridges: &[cart(
            "CE042A",
            "HP 771 775-ml Light Cyan DesignJet Ink Cartridge",
            775,
        )],
    },
    InkSlotSpec {
        label: "PK",
        color: "photo_black",
        cartridges: &[cart(
            "CE043A",
            "HP 771 775-ml Photo Black DesignJet Ink Cartridge",
            775,
        )],
    },
    InkSlotSpec {
        label: "LG",
        color: "light_gray",
        cartridges: &[cart(
            "CE044A",
            "HP 771 775-ml Light Gray DesignJet Ink Cartridge",
            775,
        )],
    },
];
const HEADS_771: &[PrintheadSpec] = &[
    PrintheadSpec {
        slot: "MK-CR",
        colors: &["matte_black", "chromatic_red"],
        product_number: "CE017A",
        product_name: "HP 771 Matte Black/Chromatic Red DesignJet Printhead",
        life_ul: ml(8_000),
    },
    PrintheadSpec {
        slot: "M-Y",
        colors: &["magenta", "yellow"],
        product_number: "CE018A",
        product_name: "HP 771 Magenta/Yellow DesignJet Printhead",
        life_ul: ml(8_000),
    },
    PrintheadSpec {
        slot: "LM-LC",
        colors: &["light_magenta", "light_cyan"],
        product_number: "CE019A",
        product_name: "HP 771 Light Magenta/Light Cyan DesignJet Printhead",
        life_ul: ml(8_000),
    },
    PrintheadSpec {
        slot: "PK-LG",
        colors: &["photo_black", "light_gray"],
        product_number: "CE020A",
        product_name: "HP 771 Photo Black/Light Gray DesignJet Printhead",
        life_ul: ml(8_000),
    },
];

/// HP 771C cartridges (Z6600 six inks, Z6800 eight inks).
const INKS_771C_8: &[InkSlotSpec] = &[
    InkSlotSpec {
        label: "MK",
        color: "matte_black",
        cartridges: &[cart(
            "B6Y07A",
            "HP 771C 775-ml Matte Black DesignJet Ink Cartridge",
            775,
        )],
    },
    InkSlotSpec {
        label: "CR",
        color: "chromatic_red",
        cartridges: &[cart(
            "B6Y08A",
            "HP 771C 775-ml Chromatic Red DesignJet Ink Cartridge",
            775,
        )],
    },
    InkSlotSpec {
        label: "M",
        color: "magenta",
        cartridges: &[cart(
            "B6Y09A",
            "HP 771C 775-ml Magenta DesignJet Ink Cartridge",
            775,
        )],
    },
    InkSlotSpec {
        label: "Y",
        color: "yellow",
        cartridges: &[cart(
            "B6Y10A",
            "HP 771C 775-ml Yellow DesignJet Ink Cartridge",
            775,
        )],
    },
    InkSlotSpec {
        label: "LM",
        color: "light_magenta",
        cartridges: &[cart(
            "B6Y11A",
            "HP 771C 775-ml Light Magenta DesignJet Ink Cartridge",
            775,
        )],
    },
    InkSlotSpec {
        label: "LC",
        color: "light_cyan",
        cartridges: &[cart(
            "B6Y12A",
            "HP 771C 775-ml Light Cyan DesignJet Ink Cartridge",
            775,
        )],
    },
    InkSlotSpec {
        label: "PK",
        color: "photo_black",
        cartridges: &[cart(
            "B6Y13A",
            "HP 771C 775-ml Photo Black DesignJet Ink Cartridge",
            775,
        )],
    },
    InkSlotSpec {
        label: "LG",
        color: "light_gray",
        cartridges: &[cart(
            "B6Y14A",
            "HP 771C 775-ml Light Gray DesignJet Ink Cartridge",
            775,
        )],
    },
];
/// Z6600: the production subset of the 771C inks (no light magenta, no light gray).
const INKS_771C_6: &[InkSlotSpec] = &[
    INKS_771C_8[0],
    INKS_771C_8[1],
    INKS_771C_8[2],
    INKS_771C_8[3],
    INKS_771C_8[5],
    INKS_771C_8[6],
];
const HEADS_771_Z6600: &[PrintheadSpec] = &[
    HEADS_771[0],
    HEADS_771[1],
    PrintheadSpec {
        slot: "LC-PK",
        colors: &["light_cyan", "photo_black"],
        product_number: "CE019A",
        product_name: "HP 771 Light Cyan/Photo Black DesignJet Printhead",
        life_ul: ml(8_000),
    },
];

/// PageWide XL 4000/4500/5000: four 400-ml inks.
const INKS_PWXL_400: &[InkSlotSpec] = &[
    InkSlotSpec {
        label: "K",
        color: "black",
        cartridges: &[cart(
            "C1Q65A",
            "HP 843C 400-ml Black PageWide XL Ink Cartridge",
            400,
        )],
    },
    InkSlotSpec {
        label: "C",
        color: "cyan",
        cartridges: &[cart(
            "C1Q66A",
            "HP 843C 400-ml Cyan PageWide XL Ink Cartridge",
            400,
        )],
    },
    InkSlotSpec {
        label: "M",
        color: "magenta",
        cartridges: &[cart(
            "C1Q67A",
            "HP 843C 400-ml Magenta PageWide XL Ink Cartridge",
            400,
        )],
    },
    InkSlotSpec {
        label: "Y",
        color: "yellow",
        cartridges: &[cart(
            "C1Q68A",
            "HP 843C 400-ml Yellow PageWide XL Ink Cartridge",
            400,
        )],
    },
];
/// PageWide XL 8000: four 775-ml inks.
const INKS_PWXL_775: &[InkSlotSpec] = &[
    InkSlotSpec {
        label: "K",
        color: "black",
        cartridges: &[cart(
            "C1Q51A",
            "HP 842C 775-ml Black PageWide XL Ink Cartridge",
            775,
        )],
    },
    InkSlotSpec {
        label: "C",
        color: "cyan",
        cartridges: &[cart(
            "C1Q52A",
            "HP 842C 775-ml Cyan PageWide XL Ink Cartridge",
            775,
        )],
    },
    InkSlotSpec {
        label: "M",
        color: "magenta",
        cartridges: &[cart(
            "C1Q53A",
            "HP 842C 775-ml Magenta PageWide XL Ink Cartridge",
            775,
        )],
    },
    InkSlotSpec {
        label: "Y",
        color: "yellow",
        cartridges: &[cart(
            "C1Q54A",
            "HP 842C 775-ml Yellow PageWide XL Ink Cartridge",
            775,
        )],
    },
];
const PWXL_COLORS: &[&str] = &["black", "cyan", "magenta", "yellow"];
const fn pwxl_head(slot: &'static str) -> PrintheadSpec {
    PrintheadSpec {
        slot,
        colors: PWXL_COLORS,
        product_number: "F9J52A",
        product_name: "HP 841 PageWide XL Printhead",
        life_ul: ml(6_000),
    }
}
/// The page-wide array: eight printheads across the 40-in bar.
const HEADS_PWXL: &[PrintheadSpec] = &[
    pwxl_head("1"),
    pwxl_head("2"),
    pwxl_head("3"),
    pwxl_head("4"),
    pwxl_head("5"),
    pwxl_head("6"),
    pwxl_head("7"),
    pwxl_head("8"),
];

// ---------------------------------------------------------------------------
// Workloads
// ---------------------------------------------------------------------------

const fn technical(jobs_per_workday: f64, scan_share: f64, copy_share: f64) -> Workload {
    Workload {
        jobs_per_workday,
        pages: (1, 4),
        set_probability: 0.08,
        set_pages: (10, 60),
        scan_share,
        copy_share,
        profiles: TECHNICAL_PROFILES,
    }
}

const fn production(
    jobs_per_workday: f64,
    set_pages_max: u32,
    scan_share: f64,
    copy_share: f64,
) -> Workload {
    Workload {
        jobs_per_workday,
        pages: (1, 12),
        set_probability: 0.2,
        set_pages: (20, set_pages_max),
        scan_share,
        copy_share,
        profiles: PRODUCTION_PROFILES,
    }
}

const fn photo(jobs_per_workday: f64) -> Workload {
    Workload {
        jobs_per_workday,
        pages: (1, 2),
        set_probability: 0.03,
        set_pages: (3, 12),
        scan_share: 0.0,
        copy_share: 0.0,
        profiles: PHOTO_PROFILES,
    }
}

// ---------------------------------------------------------------------------
// The catalog
// ---------------------------------------------------------------------------

/// Every simulated model. [`ModelId::spec`] looks entries up here.
pub static CATALOG: &[ModelSpec] = &[
    ModelSpec {
        id: ModelId::T920,
        family: Family::DesignJet,
        product_number: "CR354A",
        product_name: "HP DesignJet T920 36-in ePrinter",
        make_and_model: "HP DesignJet T920 ePrinter",
        firmware_prefix: "NEPTUNE",
        serial_prefix: "CN",
        roll_widths_mm: &[610, 841, 914],
        roll_length_mm: 91_440,
        inks: INKS_727,
        printheads: HEADS_727,
        media_sources: &[roll("roll1"), SHEET],
        media_types: TECHNICAL_MEDIA,
        scanner: None,
        accessories: &[
            acc("Stand", Some("CR357-67001"), true),
            acc("Spindle 36-in", Some("B3Q36A"), false),
        ],
        thresholds: HP_DEFAULT_THRESHOLDS,
        speed_m2_per_h: [120, 60, 25, 12],
        ink_ul_per_m2: [6_000, 9_000, 12_000, 15_000],
        workload: technical(15.0, 0.0, 0.0),
    },
    ModelSpec {
        id: ModelId::T1500,
        family: Family::DesignJet,
        product_number: "CR356A",
        product_name: "HP DesignJet T1500 36-in ePrinter",
        make_and_model: "HP DesignJet T1500 ePrinter",
        firmware_prefix: "NEPTUNE",
        serial_prefix: "CN",
        roll_widths_mm: &[610, 841, 914],
        roll_length_mm: 91_440,
        inks: INKS_727,
        printheads: HEADS_727,
        media_sources: &[roll("roll1"), roll("roll2"), SHEET],
        media_types: TECHNICAL_MEDIA,
        scanner: None,
        accessories: &[
            acc("Basket", None, true),
            acc("Spindle 36-in", Some("B3Q36A"), false),
        ],
        thresholds: HP_DEFAULT_THRESHOLDS,
        speed_m2_per_h: [140, 70, 30, 14],
        ink_ul_per_m2: [6_000, 9_000, 12_000, 15_000],
        workload: technical(25.0, 0.0, 0.0),
    },
    ModelSpec {
        id: ModelId::T2500,
        family: Family::DesignJet,
        product_number: "CR359A",
        product_name: "HP DesignJet T2500 36-in PostScript eMultifunction Printer",
        make_and_model: "HP DesignJet T2500 eMFP",
        firmware_prefix: "SATURN",
        serial_prefix: "CN",
        roll_widths_mm: &[610, 841, 914],
        roll_length_mm: 91_440,
        inks: INKS_727,
        printheads: HEADS_727,
        media_sources: &[roll("roll1"), roll("roll2"), SHEET],
        media_types: TECHNICAL_MEDIA,
        scanner: Some(ScannerSpec { max_width_mm: 914 }),
        accessories: &[
            acc("Integrated scanner", None, true),
            acc("Output tray", None, true),
            acc("Spindle 36-in", Some("B3Q36A"), false),
        ],
        thresholds: HP_DEFAULT_THRESHOLDS,
        speed_m2_per_h: [140, 70, 30, 14],
        ink_ul_per_m2: [6_000, 9_000, 12_000, 15_000],
        workload: technical(30.0, 0.1, 0.15),
    },
    ModelSpec {
        id: ModelId::T3500,
        family: Family::DesignJet,
        product_number: "B9E24A",
        product_name: "HP DesignJet T3500 36-in Production eMultifunction Printer",
        make_and_model: "HP DesignJet T3500 Production eMFP",
        firmware_prefix: "SATURN",
        serial_prefix: "SG",
        roll_widths_mm: &[610, 841, 914],
        roll_length_mm: 91_440,
        inks: INKS_727,
        printheads: HEADS_727,
        media_sources: &[roll("roll1"), roll("roll2"), roll("roll3")],
        media_types: PRODUCTION_TECHNICAL_MEDIA,
        scanner: Some(ScannerSpec { max_width_mm: 914 }),
        accessories: &[
            acc("Integrated scanner", None, true),
            acc("Integrated stacker", None, true),
            acc("Spindle 36-in", Some("B3Q36A"), false),
        ],
        thresholds: HP_DEFAULT_THRESHOLDS,
        speed_m2_per_h: [180, 90, 35, 15],
        ink_ul_per_m2: [6_000, 9_000, 12_000, 15_000],
        workload: production(60.0, 120, 0.15, 0.2),
    },
    ModelSpec {
        id: ModelId::T7100,
        family: Family::DesignJet,
        product_number: "CQ105A",
        product_name: "HP DesignJet T7100 42-in Printer",
        make_and_model: "HP DesignJet T7100",
        firmware_prefix: "ORION",
        serial_prefix: "MY",
        roll_widths_mm: &[841, 914, 1_067],
        roll_length_mm: 152_400,
        inks: INKS_761,
        printheads: HEADS_761,
        media_sources: &[roll("roll1"), roll("roll2")],
        media_types: PRODUCTION_TECHNICAL_MEDIA,
        scanner: None,
        accessories: &[
            acc("Stacker", Some("CQ743A"), false),
            acc("Take-up reel", Some("CQ742A"), false),
        ],
        thresholds: HP_DEFAULT_THRESHOLDS,
        speed_m2_per_h: [360, 150, 60, 25],
        ink_ul_per_m2: [5_500, 8_500, 11_500, 14_000],
        workload: production(80.0, 100, 0.0, 0.0),
    },
    ModelSpec {
        id: ModelId::T7200,
        family: Family::DesignJet,
        product_number: "F2L46A",
        product_name: "HP DesignJet T7200 42-in Production Printer",
        make_and_model: "HP DesignJet T7200",
        firmware_prefix: "ORION",
        serial_prefix: "MY",
        roll_widths_mm: &[841, 914, 1_067],
        roll_length_mm: 152_400,
        inks: INKS_761,
        printheads: HEADS_761,
        media_sources: &[roll("roll1"), roll("roll2")],
        media_types: PRODUCTION_TECHNICAL_MEDIA,
        scanner: None,
        accessories: &[
            acc("Stacker", Some("CQ743A"), true),
            acc("Take-up reel", Some("CQ742A"), false),
        ],
        thresholds: HP_DEFAULT_THRESHOLDS,
        speed_m2_per_h: [400, 170, 70, 30],
        ink_ul_per_m2: [5_500, 8_500, 11_500, 14_000],
        workload: production(90.0, 120, 0.0, 0.0),
    },
    ModelSpec {
        id: ModelId::Z6200,
        family: Family::DesignJet,
        product_number: "CQ109A",
        product_name: "HP DesignJet Z6200 42-in Photo Production Printer",
        make_and_model: "HP DesignJet Z6200 42in Photo",
        firmware_prefix: "ZEUS",
        serial_prefix: "MY",
        roll_widths_mm: &[610, 914, 1_067],
        roll_length_mm: 30_480,
        inks: INKS_771,
        printheads: HEADS_771,
        media_sources: &[roll("roll1")],
        media_types: PHOTO_MEDIA,
        scanner: None,
        accessories: &[
            acc("Embedded spectrophotometer", None, true),
            acc("Take-up reel", Some("CQ754A"), false),
        ],
        thresholds: HP_DEFAULT_THRESHOLDS,
        speed_m2_per_h: [140, 40, 18, 9],
        ink_ul_per_m2: [8_000, 12_000, 16_000, 20_000],
        workload: photo(12.0),
    },
    ModelSpec {
        id: ModelId::Z6600,
        family: Family::DesignJet,
        product_number: "F2S71A",
        product_name: "HP DesignJet Z6600 60-in Production Printer",
        make_and_model: "HP DesignJet Z6600 60in",
        firmware_prefix: "ZEUS",
        serial_prefix: "SG",
        roll_widths_mm: &[914, 1_067, 1_524],
        roll_length_mm: 30_480,
        inks: INKS_771C_6,
        printheads: HEADS_771_Z6600,
        media_sources: &[roll("roll1")],
        media_types: PHOTO_MEDIA,
        scanner: None,
        accessories: &[acc("Take-up reel", Some("CQ754A"), true)],
        thresholds: HP_DEFAULT_THRESHOLDS,
        speed_m2_per_h: [140, 50, 22, 11],
        ink_ul_per_m2: [8_000, 12_000, 16_000, 20_000],
        workload: photo(15.0),
    },
    ModelSpec {
        id: ModelId::Z6800,
        family: Family::DesignJet,
        product_number: "F2S72A",
        product_name: "HP DesignJet Z6800 60-in Photo Production Printer",
        make_and_model: "HP DesignJet Z6800 60in Photo",
        firmware_prefix: "ZEUS",
        serial_prefix: "SG",
        roll_widths_mm: &[914, 1_067, 1_524],
        roll_length_mm: 30_480,
        inks: INKS_771C_8,
        printheads: HEADS_771,
        media_sources: &[roll("roll1")],
        media_types: PHOTO_MEDIA,
        scanner: None,
        accessories: &[
            acc("Embedded spectrophotometer", None, true),
            acc("Take-up reel", Some("CQ754A"), true),
        ],
        thresholds: HP_DEFAULT_THRESHOLDS,
        speed_m2_per_h: [140, 45, 20, 10],
        ink_ul_per_m2: [8_000, 12_000, 16_000, 20_000],
        workload: photo(14.0),
    },
    ModelSpec {
        id: ModelId::PageWideXl4000,
        family: Family::PageWideXl,
        product_number: "CZ309A",
        product_name: "HP PageWide XL 4000 40-in Printer",
        make_and_model: "HP PageWide XL 4000",
        firmware_prefix: "PWXL",
        serial_prefix: "SG",
        roll_widths_mm: &[594, 841, 914, 1_016],
        roll_length_mm: 200_000,
        inks: INKS_PWXL_400,
        printheads: HEADS_PWXL,
        media_sources: &[roll("roll1"), roll("roll2")],
        media_types: PAGEWIDE_MEDIA,
        scanner: None,
        accessories: &[
            acc("Top stacker", None, true),
            acc("High-capacity stacker", Some("L3M58A"), false),
            acc("Online folder", None, false),
        ],
        thresholds: HP_DEFAULT_THRESHOLDS,
        speed_m2_per_h: [700, 500, 250, 250],
        ink_ul_per_m2: [4_000, 5_500, 7_500, 7_500],
        workload: production(120.0, 200, 0.0, 0.0),
    },
    ModelSpec {
        id: ModelId::PageWideXl4500,
        family: Family::PageWideXl,
        product_number: "CZ313A",
        product_name: "HP PageWide XL 4500 40-in Multifunction Printer",
        make_and_model: "HP PageWide XL 4500 MFP",
        firmware_prefix: "PWXL",
        serial_prefix: "SG",
        roll_widths_mm: &[594, 841, 914, 1_016],
        roll_length_mm: 200_000,
        inks: INKS_PWXL_400,
        printheads: HEADS_PWXL,
        media_sources: &[roll("roll1"), roll("roll2"), roll("roll3"), roll("roll4")],
        media_types: PAGEWIDE_MEDIA,
        scanner: Some(ScannerSpec { max_width_mm: 914 }),
        accessories: &[
            acc("Integrated scanner", None, true),
            acc("Top stacker", None, true),
            acc("High-capacity stacker", Some("L3M58A"), false),
        ],
        thresholds: HP_DEFAULT_THRESHOLDS,
        speed_m2_per_h: [700, 500, 250, 250],
        ink_ul_per_m2: [4_000, 5_500, 7_500, 7_500],
        workload: production(130.0, 200, 0.1, 0.15),
    },
    ModelSpec {
        id: ModelId::PageWideXl5000,
        family: Family::PageWideXl,
        product_number: "L3U51A",
        product_name: "HP PageWide XL 5000 40-in Printer",
        make_and_model: "HP PageWide XL 5000",
        firmware_prefix: "PWXL",
        serial_prefix: "SG",
        roll_widths_mm: &[594, 841, 914, 1_016],
        roll_length_mm: 200_000,
        inks: INKS_PWXL_400,
        printheads: HEADS_PWXL,
        media_sources: &[roll("roll1"), roll("roll2"), roll("roll3"), roll("roll4")],
        media_types: PAGEWIDE_MEDIA,
        scanner: None,
        accessories: &[
            acc("Top stacker", None, true),
            acc("High-capacity stacker", Some("L3M58A"), false),
            acc("Online folder", None, false),
        ],
        thresholds: HP_DEFAULT_THRESHOLDS,
        speed_m2_per_h: [1_000, 700, 350, 350],
        ink_ul_per_m2: [4_000, 5_500, 7_500, 7_500],
        workload: production(160.0, 250, 0.0, 0.0),
    },
    ModelSpec {
        id: ModelId::PageWideXl8000,
        family: Family::PageWideXl,
        product_number: "CZ319A",
        product_name: "HP PageWide XL 8000 40-in Printer",
        make_and_model: "HP PageWide XL 8000",
        firmware_prefix: "PWXL",
        serial_prefix: "SG",
        roll_widths_mm: &[594, 841, 914, 1_016],
        roll_length_mm: 200_000,
        inks: INKS_PWXL_775,
        printheads: HEADS_PWXL,
        media_sources: &[roll("roll1"), roll("roll2"), roll("roll3"), roll("roll4")],
        media_types: PAGEWIDE_MEDIA,
        scanner: None,
        accessories: &[
            acc("High-capacity stacker", Some("L3M58A"), true),
            acc("Online folder", None, false),
        ],
        thresholds: HP_DEFAULT_THRESHOLDS,
        speed_m2_per_h: [1_800, 1_200, 600, 600],
        ink_ul_per_m2: [4_000, 5_500, 7_500, 7_500],
        workload: production(250.0, 300, 0.0, 0.0),
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use ppu_protocol::InkColor;

    #[test]
    fn every_model_has_one_consistent_catalog_entry() {
        for id in ModelId::ALL {
            let n = CATALOG.iter().filter(|m| m.id == id).count();
            assert_eq!(n, 1, "{id}");
            let spec = id.spec();
            assert_eq!(id.as_str().parse::<ModelId>(), Ok(id));
            // Every printhead color is an ink of the model and every ink is printed by a head.
            for head in spec.printheads {
                for c in head.colors {
                    assert!(
                        spec.ink(c).is_some(),
                        "{id}: head {} prints unknown {c}",
                        head.slot
                    );
                }
            }
            for ink in spec.inks {
                assert!(InkColor::KNOWN.contains(&ink.color), "{id}: {}", ink.color);
                assert!(
                    spec.printheads
                        .iter()
                        .any(|h| h.colors.contains(&ink.color)),
                    "{id}: no head prints {}",
                    ink.color
                );
                assert!(!ink.cartridges.is_empty());
            }
            for media in spec.media_types {
                for lang in ["en", "de", "fr", "es", "it"] {
                    assert!(
                        media.names.iter().any(|(l, _)| *l == lang),
                        "{id}: {} lacks {lang}",
                        media.id
                    );
                }
            }
            assert_eq!(spec.is_mfp(), spec.workload.scan_share > 0.0, "{id}");
            assert!(
                spec.media_sources
                    .iter()
                    .any(|s| s.kind == MediaSourceKind::Roll)
            );
        }
    }

    #[test]
    fn ink_sets_match_the_brief() {
        let colors = |id: ModelId| id.spec().inks.iter().map(|i| i.color).collect::<Vec<_>>();
        assert_eq!(
            colors(ModelId::T1500),
            [
                "matte_black",
                "photo_black",
                "gray",
                "cyan",
                "magenta",
                "yellow"
            ]
        );
        let z = colors(ModelId::Z6200);
        assert_eq!(z.len(), 8);
        for c in ["light_cyan", "light_magenta", "light_gray", "chromatic_red"] {
            assert!(z.contains(&c), "{c}");
        }
        assert_eq!(
            colors(ModelId::PageWideXl8000),
            ["black", "cyan", "magenta", "yellow"]
        );
    }
}
