//! Plausibility of a printer report before anything of it is stored.
//!
//! A sealed report comes from an authenticated sender, but a faulty firmware
//! or a hostile sender can still put anything in it. Quantities are stored as
//! signed 64-bit integers and summed over fleets, so a value near `u64::MAX`
//! would overflow a sum or a column; a NUL byte is refused by PostgreSQL text
//! columns. Such a report is refused as a whole (the rest of the upload is
//! stored), with a message that names the field.

use ppu_protocol::model::PrinterReport;
use serde_json::Value;

/// The largest number a report may carry: 2^48, about 2.8 × 10^14. That is
/// 281,000 m² in mm², 281,000 litres in µl, or the year 10889 in Unix
/// milliseconds; far beyond any real printer's lifetime, and small enough
/// that 2^15 such values still sum inside an `i64`.
pub const MAX_VALUE: u64 = 1 << 48;

/// The most negative number a report may carry: -2^40. Quantities are never
/// negative; a timestamp (Unix milliseconds) this low is 1935, and PostgreSQL
/// refuses timestamps before 4713 BC, which -2^48 ms would be.
pub const MIN_VALUE: i64 = -(1 << 40);

/// Why `report` cannot be stored, naming the first offending field; `None`
/// when it is plausible.
pub fn implausible(report: &PrinterReport) -> Option<String> {
    let value = serde_json::to_value(report).ok()?;
    let mut path = Vec::new();
    walk(&value, &mut path)
}

fn walk(v: &Value, path: &mut Vec<String>) -> Option<String> {
    match v {
        Value::Number(n) => {
            let ok = match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => u <= MAX_VALUE,
                (None, Some(i), _) => i >= MIN_VALUE,
                (None, None, Some(f)) => f.is_finite() && f.abs() <= MAX_VALUE as f64,
                _ => false,
            };
            (!ok).then(|| {
                format!(
                    "{}: {n} is out of range ({MIN_VALUE} to {MAX_VALUE})",
                    at(path)
                )
            })
        }
        Value::String(s) => s
            .contains('\0')
            .then(|| format!("{}: text contains a NUL byte", at(path))),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            path.push(i.to_string());
            let r = walk(item, path);
            path.pop();
            r
        }),
        Value::Object(fields) => fields.iter().find_map(|(k, item)| {
            if k.contains('\0') {
                return Some(format!("{}: a key contains a NUL byte", at(path)));
            }
            path.push(k.clone());
            let r = walk(item, path);
            path.pop();
            r
        }),
        Value::Null | Value::Bool(_) => None,
    }
}

fn at(path: &[String]) -> String {
    if path.is_empty() {
        "report".to_owned()
    } else {
        path.join(".")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone as _, Utc};
    use serde_json::json;

    fn report(serial: &str) -> PrinterReport {
        PrinterReport::new(serial, Utc.with_ymd_and_hms(2026, 11, 27, 8, 0, 0).unwrap())
    }

    fn check(v: Value) -> Option<String> {
        walk(&v, &mut Vec::new())
    }

    #[test]
    fn an_ordinary_report_is_plausible() {
        assert_eq!(implausible(&report("SG-PLAUSIBLE")), None);
    }

    #[test]
    fn a_nul_byte_is_named() {
        let why = implausible(&report("SG\0X")).expect("refused");
        assert_eq!(why, "serial_number: text contains a NUL byte");
    }

    #[test]
    fn numbers_beyond_the_bound_are_named_with_their_path() {
        let why = check(json!({"print_jobs": [{"print": {"ink_ul": u64::MAX}}]})).expect("refused");
        assert!(
            why.starts_with("print_jobs.0.print.ink_ul: 18446744073709551615 is out of range"),
            "{why}"
        );
        assert!(check(json!({"x": -(1_i64 << 41)})).is_some());
        assert_eq!(check(json!({"x": MIN_VALUE})), None);
        assert!(check(json!({"x": 1e300})).is_some());
        assert_eq!(
            check(json!({"x": MAX_VALUE, "y": [1, 2.5, null, true]})),
            None
        );
        assert!(check(json!({"x": MAX_VALUE + 1})).is_some());
    }
}
