//! HTML building: one escape function for every interpolated value, the page
//! layout, and small formatting helpers.
//!
//! Pages are plain Rust strings. The rule: every value that does not come
//! from this module's own literals goes through [`e`] (text and attribute
//! values alike; it escapes `& < > " '`). Attribute values are always
//! double-quoted. URLs built from values use [`url_part`] for the path or
//! query component, then [`e`] for the attribute.

use chrono::{DateTime, NaiveDate, Utc};

use super::Viewer;

/// Escape text for an HTML text node or a double- or single-quoted attribute value.
pub fn e(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encode a path segment or query value (RFC 3986 unreserved kept).
pub fn url_part(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A timestamp as a `<time>` element: UTC text, machine-readable attribute.
pub fn time(t: Option<DateTime<Utc>>) -> String {
    match t {
        Some(t) => format!(
            "<time datetime=\"{}\">{}</time>",
            e(&t.to_rfc3339()),
            e(&t.format("%Y-%m-%d %H:%M UTC").to_string())
        ),
        None => "<span class=\"muted\">never</span>".to_owned(),
    }
}

/// "3 min ago", "2 h ago", "5 d ago".
pub fn ago(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(t) = t else {
        return "never".into();
    };
    let s = now.signed_duration_since(t).num_seconds().max(0);
    match s {
        0..60 => "just now".into(),
        60..3600 => format!("{} min ago", s / 60),
        3600..172_800 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

/// A date or a muted dash.
pub fn date(d: Option<NaiveDate>) -> String {
    d.map_or_else(
        || "<span class=\"muted\">—</span>".to_owned(),
        |d| e(&d.to_string()),
    )
}

/// An integer with thin thousands separators.
pub fn num(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

/// A status badge; `kind` picks the color class (ok, warn, bad, info, muted).
pub fn badge(kind: &str, text: &str) -> String {
    format!("<span class=\"badge badge-{}\">{}</span>", e(kind), e(text))
}

/// The badge class of an alert severity.
pub fn severity_kind(sev: &str) -> &'static str {
    match sev {
        "critical" | "major" => "bad",
        "minor" | "warning" => "warn",
        _ => "info",
    }
}

/// A level meter (0–100 %), with its number as text for screen readers and print.
pub fn meter(label: &str, pct: Option<u8>, low: u8) -> String {
    match pct {
        Some(p) => format!(
            "<meter min=\"0\" max=\"100\" low=\"{low}\" high=\"{high}\" optimum=\"100\" value=\"{p}\" aria-label=\"{l}\">{p} %</meter> <span class=\"level\">{p}&nbsp;%</span>",
            low = low.min(99) + 1,
            high = (u16::from(low) * 2).clamp(2, 100),
            l = e(label),
        ),
        None => "<span class=\"muted\">unknown</span>".to_owned(),
    }
}

/// The hidden CSRF field every portal form carries.
pub fn csrf_field(v: &Viewer) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf_token\" value=\"{}\">",
        e(&v.csrf)
    )
}

/// Which navigation entry is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// Fleet, sites, printers.
    Fleet,
    /// Alerts.
    Alerts,
    /// Usage and billing.
    Usage,
    /// Users, tokens, webhooks.
    Admin,
    /// Nothing (login, errors).
    None,
}

fn head(title: &str, csrf: Option<&str>) -> String {
    let meta = csrf
        .map(|c| format!("<meta name=\"csrf-token\" content=\"{}\">", e(c)))
        .unwrap_or_default();
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{} · ppu-hub</title>{meta}\
<link rel=\"stylesheet\" href=\"/portal/assets/portal.css\">\
<script src=\"/portal/assets/portal.js\" defer></script></head>",
        e(title)
    )
}

/// A whole page for a logged-in viewer.
pub fn page(v: &Viewer, nav: Nav, title: &str, body: &str) -> String {
    let item = |n: Nav, href: &str, label: &str| {
        let current = if n == nav {
            " aria-current=\"page\""
        } else {
            ""
        };
        format!("<li><a href=\"{href}\"{current}>{label}</a></li>")
    };
    let mut links = String::new();
    links.push_str(&item(Nav::Fleet, "/portal/", "Fleet"));
    links.push_str(&item(Nav::Alerts, "/portal/alerts", "Alerts"));
    links.push_str(&item(Nav::Usage, "/portal/usage", "Usage &amp; billing"));
    if v.is_admin() {
        links.push_str(&item(Nav::Admin, "/portal/admin", "Administration"));
    }
    format!(
        "{head}<body><a class=\"skip\" href=\"#main\">Skip to content</a>\
<header class=\"top\"><a class=\"brand\" href=\"/portal/\">ppu-hub</a>\
<nav aria-label=\"Main\"><ul>{links}</ul></nav>\
<div class=\"who\"><span title=\"{role}\">{name}</span> <span class=\"muted\">({role})</span>\
<form method=\"post\" action=\"/portal/logout\" class=\"inline\">{csrf}<button type=\"submit\" class=\"link\">Log out</button></form></div>\
</header><main id=\"main\"><h1>{title}</h1>{body}</main></body></html>",
        head = head(title, Some(&v.csrf)),
        role = e(v.who.role.as_str()),
        name = e(&v.email),
        csrf = csrf_field(v),
        title = e(title),
    )
}

/// A page without navigation (login, errors for visitors).
pub fn bare_page(title: &str, body: &str) -> String {
    format!(
        "{head}<body><main id=\"main\" class=\"narrow\"><h1>{title}</h1>{body}</main></body></html>",
        head = head(title, None),
        title = e(title),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_special_character() {
        assert_eq!(
            e("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
        assert_eq!(e("plain text"), "plain text");
    }

    #[test]
    fn url_parts_are_percent_encoded() {
        assert_eq!(url_part("SG12-A.3_4~"), "SG12-A.3_4~");
        assert_eq!(url_part("a b/c?d&e\"<"), "a%20b%2Fc%3Fd%26e%22%3C");
    }

    #[test]
    fn numbers_get_separators() {
        assert_eq!(num(0), "0");
        assert_eq!(num(999), "999");
        assert_eq!(num(1234567), "1\u{202f}234\u{202f}567");
    }
}
