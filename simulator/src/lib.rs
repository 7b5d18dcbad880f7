//! Virtual HP large-format printers for testing ppu-hub.
pub mod clock;
pub mod device;
pub mod firmware;
pub mod ledm;
pub mod models;
pub mod names;
pub mod rng;
