use chrono::{TimeDelta, TimeZone, Utc};
use ppu_sim::device::{Event, VirtualPrinter};
use ppu_sim::models::ModelId;

#[test]
fn scratch() {
    let t0 = Utc.with_ymd_and_hms(2024, 3, 4, 0, 0, 0).unwrap();
    for m in ModelId::ALL {
        let mut p = VirtualPrinter::new(m, "X", 42);
        let ev = p.advance(t0);
        let ev2 = p.advance(t0 + TimeDelta::days(30));
        let mut carts = 0; let mut heads = 0; let mut media = 0; let mut alerts = std::collections::BTreeMap::new(); let mut boots = 0;
        for e in ev.iter().chain(&ev2) {
            match e {
                Event::CartridgeInserted{..} => carts += 1,
                Event::PrintheadReplaced{..} => heads += 1,
                Event::MediaLoaded{..} => media += 1,
                Event::AlertRaised(a) => *alerts.entry(format!("{:?}", a.severity)).or_insert(0) += 1,
                Event::Booted{..} => boots += 1,
                _ => {}
            }
        }
        let c = p.counters();
        println!("{m}: jobs {} pages {} ink {:.1} ml media {:.1} m2 carts {carts} heads {heads} media {media} boots {boots} alerts {alerts:?} active {}", c.jobs, c.pages, c.total_ink_used_ul as f64/1000.0, c.total_media_area_mm2 as f64/1e6, p.alerts().len());
    }
    let mut p = VirtualPrinter::new(ModelId::T2500, "X", 1);
    p.advance(t0 + TimeDelta::hours(8));
    p.advance(t0 + TimeDelta::hours(12));
    for j in p.job_log().take(8) { println!("{:?}", j); }
    println!("{}", ppu_sim::ledm::xml::product_usage(&p));
    println!("{}", ppu_sim::ledm::xml::product_status(&p));
    println!("{}", ppu_sim::ledm::accounting::render(p.job_log().take(4), &["matte_black","photo_black","gray","cyan","magenta","yellow"]));
}
