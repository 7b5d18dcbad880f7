//! A small element tree over quick-xml, addressed by *local names*.
//!
//! HP's LEDM documents bind their namespaces to URIs that carry dates, and
//! the dates (and the prefixes) change between firmware generations: the
//! same `SerialNumber` element is `dd:SerialNumber` in
//! `.../dictionaries/1.0/` on one device and a default-namespace element in
//! `.../dictionaries/2011/06/14` on another. So the tree keeps each
//! element's local name and its namespace *family* (the URI without the
//! date), and lookups use local names only. Documents are small (a few KB);
//! a limit on depth and element count keeps a hostile device from making the
//! collector build a huge tree.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

/// Deepest nesting accepted.
const MAX_DEPTH: usize = 64;
/// Most elements accepted in one document.
const MAX_ELEMENTS: usize = 100_000;

/// Why a document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    /// Not well-formed XML.
    #[error("malformed xml: {0}")]
    Malformed(String),
    /// No root element.
    #[error("the document is empty")]
    Empty,
    /// Nesting or size beyond the limits.
    #[error("the document is too large or too deeply nested")]
    TooLarge,
}

/// One element.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// Namespace family: the namespace URI without a trailing date or `1.0`.
    pub family: String,
    /// Local name.
    pub name: String,
    /// Attributes by local name (`xml:lang` is `lang`).
    pub attrs: Vec<(String, String)>,
    /// Text content directly inside this element, entity references resolved.
    pub text: String,
    /// Child elements in document order.
    pub children: Vec<Element>,
}

impl Element {
    /// Parse a document and return its root element.
    ///
    /// # Errors
    /// [`XmlError`].
    pub fn parse(xml: &str) -> Result<Element, XmlError> {
        let mut reader = quick_xml::NsReader::from_str(xml);
        let mut stack: Vec<Element> = Vec::new();
        let mut count = 0usize;
        loop {
            let (ns, event) = reader
                .read_resolved_event()
                .map_err(|e| XmlError::Malformed(e.to_string()))?;
            let family = match ns {
                ResolveResult::Bound(ns) => family(ns.as_ref()).to_owned(),
                _ => String::new(),
            };
            match event {
                Event::Start(e) | Event::Empty(e) if stack.len() >= MAX_DEPTH => {
                    let _ = e;
                    return Err(XmlError::TooLarge);
                }
                Event::Start(e) => {
                    count += 1;
                    if count > MAX_ELEMENTS {
                        return Err(XmlError::TooLarge);
                    }
                    stack.push(element(&e, family)?);
                }
                Event::Empty(e) => {
                    count += 1;
                    if count > MAX_ELEMENTS {
                        return Err(XmlError::TooLarge);
                    }
                    let el = element(&e, family)?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(el),
                        None => return Ok(el),
                    }
                }
                Event::End(_) => {
                    let Some(mut done) = stack.pop() else {
                        return Err(XmlError::Malformed("unbalanced end tag".into()));
                    };
                    let trimmed = done.text.trim();
                    if trimmed.len() != done.text.len() {
                        done.text = trimmed.to_owned();
                    }
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(done),
                        None => return Ok(done),
                    }
                }
                Event::Text(t) => {
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&t.xml10_content());
                    }
                }
                Event::CData(t) => {
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&t.into_inner());
                    }
                }
                Event::GeneralRef(r) => {
                    if let Some(top) = stack.last_mut() {
                        let resolved = match r.resolve_char_ref() {
                            Ok(Some(c)) => Some(c.to_string()),
                            _ => {
                                quick_xml::escape::resolve_predefined_entity(&r).map(str::to_owned)
                            }
                        };
                        match resolved {
                            Some(s) => top.text.push_str(&s),
                            None => {
                                return Err(XmlError::Malformed(format!(
                                    "unknown entity `&{};`",
                                    &*r
                                )));
                            }
                        }
                    }
                }
                Event::Eof => {
                    return Err(if stack.is_empty() {
                        XmlError::Empty
                    } else {
                        XmlError::Malformed("unexpected end of document".into())
                    });
                }
                _ => {}
            }
        }
    }

    /// The first child with local name `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child with local name `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Follow a path of local names from this element.
    pub fn path(&self, path: &[&str]) -> Option<&Element> {
        path.iter().try_fold(self, |el, name| el.child(name))
    }

    /// The trimmed text at `path`, when present and not empty.
    pub fn text_at(&self, path: &[&str]) -> Option<&str> {
        self.path(path)
            .map(|e| e.text.as_str())
            .filter(|t| !t.is_empty())
    }

    /// The first element named `name` anywhere below (depth first).
    pub fn find(&self, name: &str) -> Option<&Element> {
        self.children.iter().find_map(|c| {
            if c.name == name {
                Some(c)
            } else {
                c.find(name)
            }
        })
    }

    /// Every element named `name` anywhere below, in document order.
    pub fn find_all<'a>(&'a self, name: &str) -> Vec<&'a Element> {
        let mut out = Vec::new();
        self.collect(name, &mut out);
        out
    }

    fn collect<'a>(&'a self, name: &str, out: &mut Vec<&'a Element>) {
        for c in &self.children {
            if c.name == name {
                out.push(c);
            }
            c.collect(name, out);
        }
    }

    /// An attribute by local name.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn element(e: &quick_xml::events::BytesStart<'_>, family: String) -> Result<Element, XmlError> {
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|e| XmlError::Malformed(e.to_string()))?;
        let key = a.key.local_name().as_ref().to_owned();
        if a.key.as_ref().starts_with("xmlns") {
            continue;
        }
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| XmlError::Malformed(e.to_string()))?
            .into_owned();
        attrs.push((key, value));
    }
    Ok(Element {
        family,
        name: e.local_name().as_ref().to_owned(),
        attrs,
        text: String::new(),
        children: Vec::new(),
    })
}

/// The family of a namespace URI: without a trailing `YYYY/MM/DD` date or
/// `1.0` version. `.../ledm/productusagedyn/2007/12/11` ->
/// `.../ledm/productusagedyn/`.
pub fn family(uri: &str) -> &str {
    let trimmed = uri.trim_end_matches('/');
    let parts: Vec<&str> = trimmed.rsplitn(4, '/').collect();
    if parts.len() == 4
        && parts[0].len() == 2
        && parts[1].len() == 2
        && parts[2].len() == 4
        && parts[..3]
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_digit()))
    {
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
    fn local_names_match_across_prefixes_and_dates() {
        let classic = r#"<?xml version="1.0" encoding="UTF-8"?>
<prdcfgdyn:ProductConfigDyn xmlns:prdcfgdyn="http://www.hp.com/schemas/imaging/con/ledm/productconfigdyn/2007/11/05" xmlns:dd="http://www.hp.com/schemas/imaging/con/dictionaries/1.0/">
 <prdcfgdyn:ProductInformation>
  <dd:MakeAndModel>HP DesignJet T920 ePrinter</dd:MakeAndModel>
  <dd:SerialNumber> CN123 </dd:SerialNumber>
  <dd:Version><dd:Revision>AXOPT2&amp;1&#x41;</dd:Revision></dd:Version>
 </prdcfgdyn:ProductInformation>
</prdcfgdyn:ProductConfigDyn>"#;
        let modern = r#"<ProductConfigDyn xmlns="http://www.hp.com/schemas/imaging/con/ledm/productconfigdyn/2009/03/16" xmlns:dd="http://www.hp.com/schemas/imaging/con/dictionaries/1.0/">
 <ProductInformation>
  <dd:MakeAndModel>HP DesignJet T920 ePrinter</dd:MakeAndModel>
  <dd:SerialNumber>CN123</dd:SerialNumber>
  <dd:Version><dd:Revision><![CDATA[AXOPT2&1A]]></dd:Revision></dd:Version>
 </ProductInformation>
</ProductConfigDyn>"#;
        for doc in [classic, modern] {
            let root = Element::parse(doc).unwrap();
            assert_eq!(root.name, "ProductConfigDyn");
            assert_eq!(
                root.family,
                "http://www.hp.com/schemas/imaging/con/ledm/productconfigdyn/"
            );
            assert_eq!(
                root.text_at(&["ProductInformation", "SerialNumber"]),
                Some("CN123")
            );
            assert_eq!(
                root.find("Revision").map(|e| e.text.as_str()),
                Some("AXOPT2&1A")
            );
            assert_eq!(
                root.find("SerialNumber").unwrap().family,
                "http://www.hp.com/schemas/imaging/con/dictionaries/"
            );
        }
    }

    #[test]
    fn attributes_and_bad_documents() {
        let root =
            Element::parse(r#"<a xmlns:x="urn:x"><b xml:lang="de" x:k="v">Rolle</b><b/></a>"#)
                .unwrap();
        assert_eq!(root.children_named("b").count(), 2);
        assert_eq!(root.child("b").unwrap().attr("lang"), Some("de"));
        assert_eq!(root.child("b").unwrap().attr("k"), Some("v"));
        assert!(matches!(Element::parse(""), Err(XmlError::Empty)));
        assert!(Element::parse("<a><b></a>").is_err());
        assert!(Element::parse("<a>&nope;</a>").is_err());
        assert!(Element::parse("<a>").is_err());
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(matches!(Element::parse(&deep), Err(XmlError::TooLarge)));
    }

    #[test]
    fn families() {
        assert_eq!(
            family("http://www.hp.com/schemas/imaging/con/ledm/productusagedyn/2007/12/11"),
            "http://www.hp.com/schemas/imaging/con/ledm/productusagedyn/"
        );
        assert_eq!(
            family("http://www.hp.com/schemas/imaging/con/dictionaries/1.0/"),
            "http://www.hp.com/schemas/imaging/con/dictionaries/"
        );
        assert_eq!(family("urn:x"), "urn:x");
    }
}
