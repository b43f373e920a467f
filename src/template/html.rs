//! Go's `html/template` on the one engine: contextual auto-escaping for HTML templates
//! ([`Template::parse_html`](super::Template::parse_html)), so that HTML mail bodies (Kratos'
//! courier templates) are safe whatever the data.
//!
//! Design, as Go's: a pass at parse time. After [`super::parse`] has built the tree, [`escape`]
//! walks it once with the HTML context — where the parser of a browser would be after the
//! template's literal text so far: in text, in a tag, in an attribute name or value (quoted or
//! not; a URL, a `srcset`…), in a comment, in `<title>`… — and rewrites every output action
//! `{{ pipeline }}` into [`Node::Escaped`]: the pipeline and the escapers its context needs,
//! which execution applies to the pipeline's value (stringified as Go's escapers do: nil is "",
//! a string itself, anything else `%v`). Escaping depends only on the template, never on the
//! data: the branches of `if`/`with` must end in the same context (or contexts Go joins: a URL
//! whose part is unknown, a value that may be unquoted), a `range` body must escape its second
//! iteration as its first, and the template must end in HTML text — otherwise a parse error.
//!
//! What an action gets (Go's escapers, by Go's names):
//!
//! | context                                   | escapers                                            |
//! |-------------------------------------------|-----------------------------------------------------|
//! | HTML text; `<title>`, `<textarea>`        | htmlescaper (`<>&'"+` and NUL)                      |
//! | a quoted attribute value                  | attrescaper (the same table)                        |
//! | an unquoted attribute value               | nospaceescaper (also space, `=`, `` ` ``; "" → `ZgotmplZ`) |
//! | a URL attribute (`href`, `src`, `action`, `*url*`…), at its start | urlfilter (a scheme other than http, https, mailto → `#ZgotmplZ`), urlnormalizer, then the attribute's escaper |
//! | … after literal text, before `?`/`#`      | urlnormalizer (percent-encodes what a URL may not hold), the attribute's |
//! | … in the query or fragment                | urlescaper (percent-encodes all but unreserved), the attribute's |
//! | `srcset`                                  | srcsetescaper (each URL filtered and normalized), the attribute's |
//! | in a tag, where an attribute name goes    | htmlnamefilter (plain `[a-z0-9]` names only, else `ZgotmplZ`) |
//! | an HTML comment                           | commentescaper (nothing: comments are dropped)      |
//!
//! Literal text is rewritten as Go does: HTML comments are dropped, and in text a `<` that
//! starts no tag, end tag or `<!DOCTYPE` is written `&lt;`. A trailing `html` or `urlquery`
//! in a pipeline stands in for the escaper it equals (so `{{ .X | html }}` is escaped once);
//! anywhere else in a pipeline they are a parse error, as in Go.
//!
//! Not as Go, on purpose: JavaScript and CSS contexts are **refused**, not escaped — an action
//! inside `<script>` or `<style>`, in an event handler (`on*`), a `style` or a `srcdoc`
//! attribute is a parse error (literal `<script>`/`<style>` elements without actions pass
//! through unchanged; Go would also strip their JS/CSS comments). An attribute name split by
//! an action (`<a on{{.X}}=…>`) and `<!--` inside `<script>` are refused too. Data values are
//! always plain text: there are no typed "safe" strings.
//!
//! Bounded: the pass recurses no deeper than the parser's [`super::MAX_NESTING`], and the work
//! it does (nodes visited and text bytes read; a `range` body that ends in another context
//! than it began is read twice) is at most [`MAX_ESCAPE_WORK`].

use std::fmt::{self, Write as _};

use super::builtins::{call, Func};
use super::parse::{Command, Node, Operand, Pipeline};
use super::value::{Object, Val};
use super::{err, R};

/// Work the escaping pass may do on one template: nodes visited and text bytes read
/// (`range` bodies are read twice, so nested ranges multiply; a parse error beyond).
pub const MAX_ESCAPE_WORK: usize = 1 << 24;

/// Go's replacement for a value a filter refuses.
const FAILSAFE: &str = "ZgotmplZ";

/// An escaper an action's value goes through, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Escaper {
    /// Go's htmlescaper, rcdataescaper and attrescaper (one table on plain text).
    Html,
    /// Go's nospaceescaper, for unquoted attribute values.
    Unquoted,
    /// Go's urlfilter: a URL whose scheme is not http, https or mailto becomes `#ZgotmplZ`.
    UrlFilter,
    /// Go's urlnormalizer: percent-encodes the bytes a URL may not hold.
    UrlNormalizer,
    /// Go's urlescaper: percent-encodes all but unreserved bytes.
    UrlEncoder,
    /// Go's srcsetescaper.
    Srcset,
    /// Go's htmlnamefilter.
    AttrName,
    /// Go's commentescaper: nothing.
    Comment,
    /// The template's own trailing `html` or `urlquery`, in place of an equivalent escaper.
    Builtin(Func),
}

impl Escaper {
    fn apply<O: Object>(self, s: String) -> R<String> {
        Ok(match self {
            Escaper::Html => html_escape(&s, false),
            Escaper::Unquoted if s.is_empty() => FAILSAFE.into(),
            Escaper::Unquoted => html_escape(&s, true),
            Escaper::UrlFilter if safe_url(&s) => s,
            Escaper::UrlFilter => format!("#{FAILSAFE}"),
            Escaper::UrlNormalizer => percent_encode(&s, true),
            Escaper::UrlEncoder => percent_encode(&s, false),
            Escaper::Srcset => srcset(&s),
            Escaper::AttrName => attr_name_filter(&s),
            Escaper::Comment => String::new(),
            Escaper::Builtin(f) => call::<O>(f, vec![Val::str(s)])?.text(),
        })
    }

    /// Whether the builtin `f` (`html` or `urlquery`) does what this escaper does.
    fn equals_builtin(self, f: Func) -> bool {
        match f {
            Func::Html => self == Escaper::Html,
            Func::Urlquery => matches!(self, Escaper::UrlEncoder | Escaper::UrlNormalizer),
            _ => false,
        }
    }
}

/// The output of an escaped action: `v` stringified (nil is ""), then through `escapers`.
pub(super) fn escape_value<O: Object>(escapers: &[Escaper], v: &Val<O>) -> R<String> {
    escapers.iter().try_fold(v.text(), |s, e| e.apply::<O>(s))
}

// ---- the escapers -------------------------------------------------------------------------

/// Go's HTML replacement tables: text and quoted values, or (`unquoted`) unquoted values.
fn html_escape(s: &str, unquoted: bool) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for ch in s.chars() {
        let replacement = match ch {
            '\0' if unquoted => "&#xfffd;",
            '\0' => "\u{FFFD}",
            '"' => "&#34;",
            '&' => "&amp;",
            '\'' => "&#39;",
            '+' => "&#43;",
            '<' => "&lt;",
            '>' => "&gt;",
            '\t' if unquoted => "&#9;",
            '\n' if unquoted => "&#10;",
            '\u{b}' if unquoted => "&#11;",
            '\u{c}' if unquoted => "&#12;",
            '\r' if unquoted => "&#13;",
            ' ' if unquoted => "&#32;",
            '=' if unquoted => "&#61;",
            '`' if unquoted => "&#96;",
            '\u{fdd0}'..='\u{fdef}' | '\u{fff0}'..='\u{ffff}' if unquoted => {
                let _ = write!(out, "&#x{:x};", u32::from(ch));
                continue;
            }
            _ => {
                out.push(ch);
                continue;
            }
        };
        out.push_str(replacement);
    }
    out
}

/// Whether a URL is relative or its scheme is http, https or mailto (any case).
fn safe_url(s: &str) -> bool {
    match s.split_once(':') {
        Some((scheme, _)) if !scheme.contains('/') => ["http", "https", "mailto"]
            .iter()
            .any(|safe| scheme.eq_ignore_ascii_case(safe)),
        _ => true,
    }
}

/// Percent-encodes (lower-case hex, as Go) every byte but the unreserved ones; when
/// `normalize`, also keeps the reserved ones and valid `%xx` escapes.
fn percent_encode(s: &str, normalize: bool) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    for (i, &c) in b.iter().enumerate() {
        let keep = match c {
            b'!' | b'#' | b'$' | b'&' | b'*' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?'
            | b'@' | b'[' | b']' => normalize,
            b'-' | b'.' | b'_' | b'~' => true,
            b'%' => {
                normalize
                    && b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
            }
            c => c.is_ascii_alphanumeric(),
        };
        if keep {
            out.push(char::from(c));
        } else {
            let _ = write!(out, "%{c:02x}");
        }
    }
    out
}

/// HTML's ASCII whitespace.
fn html_space(c: u8) -> bool {
    matches!(c, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

/// Go's srcsetescaper: each comma-separated candidate is a safe URL, normalized, and
/// metadata of spaces and letters and digits only (`100w`, `2x`), or it becomes `#ZgotmplZ`.
fn srcset(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, candidate) in s.split(',').enumerate() {
        if i > 0 {
            out.push(',');
        }
        let b = candidate.as_bytes();
        let start = b.iter().position(|&c| !html_space(c)).unwrap_or(b.len());
        let end = b[start..]
            .iter()
            .position(|&c| html_space(c))
            .map_or(b.len(), |p| start + p);
        let (url, metadata) = (&candidate[start..end], &candidate[end..]);
        if safe_url(url)
            && metadata
                .bytes()
                .all(|c| html_space(c) || c.is_ascii_alphanumeric())
        {
            out.push_str(&candidate[..start]);
            out.push_str(&percent_encode(url, true));
            out.push_str(metadata);
        } else {
            out.push('#');
            out.push_str(FAILSAFE);
        }
    }
    out
}

/// Go's htmlnamefilter: a plain attribute name of ASCII letters and digits, lower-cased;
/// anything else (empty, a URL, script, style or otherwise special attribute) `ZgotmplZ`.
fn attr_name_filter(s: &str) -> String {
    let name = s.to_lowercase();
    let plain = !name.is_empty()
        && attr_kind(&name) == AttrKind::Plain
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if plain {
        name
    } else {
        FAILSAFE.into()
    }
}

// ---- contexts -----------------------------------------------------------------------------

/// What an attribute's value holds, by its name (Go's attribute table and heuristics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AttrKind {
    Plain,
    /// Plain text to the escaper, but not a name an action may produce (`type`, `rel`…).
    Special,
    Url,
    Srcset,
    /// An event handler: refused.
    Js,
    /// `style`: refused.
    Css,
    /// `srcdoc`: refused.
    Html,
}

/// The kind of the attribute `name` (lower-cased): `data-` is stripped and a namespace
/// prefix (`xlink:`) too (`xmlns:*` is a URL); names starting with `on` are event handlers,
/// names holding `src`, `uri` or `url` URLs.
fn attr_kind(name: &str) -> AttrKind {
    let name = match name.strip_prefix("data-") {
        Some(rest) => rest,
        None => match name.split_once(':') {
            Some(("xmlns", _)) => return AttrKind::Url,
            Some((_, local)) => local,
            None => name,
        },
    };
    match name {
        "action" | "archive" | "background" | "cite" | "classid" | "codebase" | "data"
        | "formaction" | "href" | "icon" | "longdesc" | "manifest" | "poster" | "profile"
        | "src" | "usemap" | "xmlns" => AttrKind::Url,
        "srcset" => AttrKind::Srcset,
        "style" => AttrKind::Css,
        "srcdoc" => AttrKind::Html,
        "accept-charset" | "async" | "challenge" | "charset" | "content" | "crossorigin"
        | "defer" | "enctype" | "form" | "formenctype" | "formmethod" | "formnovalidate"
        | "http-equiv" | "keytype" | "language" | "method" | "novalidate" | "pattern" | "rel"
        | "sandbox" | "type" | "value" => AttrKind::Special,
        // plain, though its name holds "src"
        "srclang" => AttrKind::Plain,
        n if n.starts_with("on") => AttrKind::Js,
        n if n.contains("src") || n.contains("uri") || n.contains("url") => AttrKind::Url,
        _ => AttrKind::Plain,
    }
}

/// The elements whose content is not HTML text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Element {
    None,
    Script,
    Style,
    Textarea,
    Title,
}

impl Element {
    fn of(tag: &str) -> Element {
        match tag.to_ascii_lowercase().as_str() {
            "script" => Element::Script,
            "style" => Element::Style,
            "textarea" => Element::Textarea,
            "title" => Element::Title,
            _ => Element::None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Element::None => "",
            Element::Script => "script",
            Element::Style => "style",
            Element::Textarea => "textarea",
            Element::Title => "title",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// HTML text.
    Text,
    /// In a tag, where an attribute or the tag's end goes.
    Tag,
    /// Right after an attribute's name.
    AttrName,
    /// After an attribute's name and space: `=` or the next attribute.
    AfterName,
    /// After `=`, before the value.
    BeforeValue,
    /// In an attribute's value.
    Value,
    /// In `<!-- … -->`.
    Comment,
    /// The text of `<title>` or `<textarea>`.
    Rcdata,
    /// The body of `<script>` or `<style>`.
    RawText,
}

/// How an attribute value is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delim {
    None,
    Double,
    Single,
    Unquoted,
}

/// Where in a URL attribute's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UrlPart {
    /// Nothing but space yet: the scheme is still open.
    Start,
    /// After literal text, before `?` or `#`.
    PreQuery,
    /// In the query or fragment.
    QueryOrFragment,
    /// Either, depending on a branch taken.
    Unknown,
}

/// Where a browser's parser is after the text so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ctx {
    state: State,
    /// The element whose tag or content this is.
    element: Element,
    /// The attribute whose name or value this is.
    attr: AttrKind,
    delim: Delim,
    url: UrlPart,
}

impl Ctx {
    const TEXT: Ctx = Ctx {
        state: State::Text,
        element: Element::None,
        attr: AttrKind::Plain,
        delim: Delim::None,
        url: UrlPart::Start,
    };

    fn with(self, state: State) -> Ctx {
        Ctx { state, ..self }
    }

    /// In a tag of `element`, between attributes.
    fn tag(element: Element) -> Ctx {
        Ctx {
            state: State::Tag,
            element,
            ..Ctx::TEXT
        }
    }

    /// Go's nudge: the context an action starts where the text stopped just before one —
    /// an attribute name in a tag, an unquoted value after `=`.
    fn nudge(self) -> Ctx {
        match self.state {
            State::Tag | State::AfterName => Ctx {
                state: State::AttrName,
                attr: AttrKind::Plain,
                ..self
            },
            State::BeforeValue => Ctx {
                state: State::Value,
                delim: Delim::Unquoted,
                url: UrlPart::Start,
                ..self
            },
            _ => self,
        }
    }
}

impl fmt::Display for Ctx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.state {
            State::Text => f.write_str("HTML text"),
            State::Tag => f.write_str("a tag"),
            State::AttrName => f.write_str("an attribute name"),
            State::AfterName => f.write_str("a tag, after an attribute name"),
            State::BeforeValue => f.write_str("a tag, after `=`"),
            State::Comment => f.write_str("an HTML comment"),
            State::Rcdata | State::RawText => write!(f, "<{}>", self.element.name()),
            State::Value => {
                let quoting = match self.delim {
                    Delim::Double => "double-quoted ",
                    Delim::Single => "single-quoted ",
                    Delim::Unquoted => "unquoted ",
                    Delim::None => "",
                };
                let kind = match self.attr {
                    AttrKind::Plain | AttrKind::Special => "",
                    AttrKind::Url => match self.url {
                        UrlPart::Start => "URL ",
                        UrlPart::PreQuery => "URL (before its query) ",
                        UrlPart::QueryOrFragment => "URL (in its query or fragment) ",
                        UrlPart::Unknown => "URL (its query started or not) ",
                    },
                    AttrKind::Srcset => "srcset ",
                    AttrKind::Js => "event handler (JavaScript) ",
                    AttrKind::Css => "style (CSS) ",
                    AttrKind::Html => "srcdoc (HTML) ",
                };
                let what = format!("{quoting}{kind}attribute value");
                let article = if what.starts_with(['a', 'e', 'i', 'o', 'u']) {
                    "an"
                } else {
                    "a"
                };
                write!(f, "{article} {what}")
            }
        }
    }
}

/// Go's join: the context after branches that ended in `a` and `b`, if they agree — equal, or
/// equal but for the URL part (then unknown), or equal once nudged.
fn join(a: Ctx, b: Ctx) -> Option<Ctx> {
    if a == b {
        return Some(a);
    }
    if (Ctx { url: b.url, ..a }) == b {
        return Some(Ctx {
            url: UrlPart::Unknown,
            ..a
        });
    }
    let (na, nb) = (a.nudge(), b.nudge());
    if (na, nb) != (a, b) {
        return join(na, nb);
    }
    None
}

// ---- the pass -----------------------------------------------------------------------------

/// Escapes the nodes of a parsed template for HTML (the module's header).
pub(super) fn escape(nodes: &[Node]) -> R<Vec<Node>> {
    let mut pass = Pass {
        work: 0,
        last_text: String::new(),
    };
    let (nodes, end) = pass.list(nodes, Ctx::TEXT)?;
    if end.state != State::Text {
        return err(format!(
            "the HTML template ends inside {end}: it must end in HTML text"
        ));
    }
    Ok(nodes)
}

struct Pass {
    /// Nodes visited and text bytes read ([`MAX_ESCAPE_WORK`]).
    work: usize,
    /// The end of the last literal text, to say where an error is.
    last_text: String,
}

impl Pass {
    fn charge(&mut self, n: usize) -> R<()> {
        self.work = self.work.saturating_add(n);
        if self.work > MAX_ESCAPE_WORK {
            return err(format!(
                "the HTML template is too complex to escape (more than {MAX_ESCAPE_WORK} \
                 steps; nested {{{{range}}}}s multiply)"
            ));
        }
        Ok(())
    }

    /// Where the current action is, for messages: after the last literal text.
    fn at(&self) -> String {
        if self.last_text.is_empty() {
            "an action".into()
        } else {
            format!("the action after {:?}", self.last_text)
        }
    }

    fn list(&mut self, nodes: &[Node], mut c: Ctx) -> R<(Vec<Node>, Ctx)> {
        let mut out = Vec::with_capacity(nodes.len());
        for node in nodes {
            self.charge(1)?;
            match node {
                Node::Text(t) => {
                    self.charge(t.len())?;
                    let (text, after) = self.text(t, c)?;
                    if !text.is_empty() {
                        out.push(Node::Text(text));
                    }
                    c = after;
                }
                Node::Action(p) => {
                    let (node, after) = self.action(p, c)?;
                    out.push(node);
                    c = after;
                }
                Node::Escaped(..) => out.push(node.clone()),
                Node::If(branches, otherwise) => {
                    let mut escaped = Vec::with_capacity(branches.len());
                    let mut end = None;
                    for (cond, body) in branches {
                        let (body, after) = self.list(body, c)?;
                        end = Some(self.join_branches("if", end, after)?);
                        escaped.push((cond.clone(), body));
                    }
                    let (otherwise, after) = self.list(otherwise, c)?;
                    c = self.join_branches("if", end, after)?;
                    out.push(Node::If(escaped, otherwise));
                }
                Node::With(p, body, otherwise) => {
                    let (body, end) = self.list(body, c)?;
                    let (otherwise, after) = self.list(otherwise, c)?;
                    c = self.join_branches("with", Some(end), after)?;
                    out.push(Node::With(p.clone(), body, otherwise));
                }
                Node::Range(p, body, otherwise) => {
                    let (escaped, end) = self.list(body, c)?;
                    // a second iteration starts where the first ended, and must be escaped
                    // the same (it is, when that is where the first began)
                    let end = if end == c {
                        end
                    } else {
                        let (again, end_again) = self.list(body, end)?;
                        if again != escaped {
                            return err(format!(
                                "{{{{range}}}} near {:?}: its body is in a different context \
                                 on the second iteration ({end}, not {c})",
                                self.last_text
                            ));
                        }
                        self.join_branches("range", Some(end), end_again)?
                    };
                    let (otherwise, after) = self.list(otherwise, c)?;
                    c = self.join_branches("range", Some(end), after)?;
                    out.push(Node::Range(p.clone(), escaped, otherwise));
                }
            }
        }
        Ok((out, c))
    }

    fn join_branches(&self, word: &str, a: Option<Ctx>, b: Ctx) -> R<Ctx> {
        let Some(a) = a else { return Ok(b) };
        join(a, b).ok_or_else(|| {
            super::TemplateError(format!(
                "{{{{{word}}}}} branches end in different HTML contexts ({a}; {b}), near {:?}",
                self.last_text
            ))
        })
    }

    /// The escapers of the action `p` in `c`, and the context after it.
    fn action(&mut self, p: &Pipeline, c: Ctx) -> R<(Node, Ctx)> {
        if c.state == State::AttrName {
            return err(format!(
                "{} continues an attribute name: an action may produce a whole attribute \
                 name only (put a space before it)",
                self.at()
            ));
        }
        let c = c.nudge();
        let last = p.0.len().saturating_sub(1);
        for (i, cmd) in p.0.iter().enumerate() {
            if let Some(f) = predefined(cmd) {
                let unquoted_html = f == Func::Html
                    && c.state == State::Value
                    && c.delim == Delim::Unquoted
                    && matches!(c.attr, AttrKind::Plain | AttrKind::Special);
                if i < last || unquoted_html {
                    return err(format!(
                        "{}: predefined escaper {:?} disallowed in template",
                        self.at(),
                        f.name()
                    ));
                }
            }
        }
        let refused = |what: &str| {
            err(format!(
                "{} is in {what}: Quartet's HTML templates refuse actions in JavaScript, CSS \
                 and srcdoc contexts",
                self.at()
            ))
        };
        let mut escapers = match (c.state, c.attr) {
            (State::Text | State::Rcdata, _) => vec![Escaper::Html],
            (State::Comment, _) => vec![Escaper::Comment],
            (State::AttrName | State::Tag | State::AfterName, _) => vec![Escaper::AttrName],
            (State::RawText, _) => return refused(&format!("<{}>", c.element.name())),
            (State::Value | State::BeforeValue, AttrKind::Plain | AttrKind::Special) => vec![],
            (State::Value | State::BeforeValue, AttrKind::Url) => match c.url {
                UrlPart::Start => vec![Escaper::UrlFilter, Escaper::UrlNormalizer],
                UrlPart::PreQuery => vec![Escaper::UrlNormalizer],
                UrlPart::QueryOrFragment => vec![Escaper::UrlEncoder],
                UrlPart::Unknown => {
                    return err(format!(
                        "{} is in an ambiguous context within a URL (a branch before it \
                         may or may not have started the query)",
                        self.at()
                    ))
                }
            },
            (State::Value | State::BeforeValue, AttrKind::Srcset) => vec![Escaper::Srcset],
            (State::Value | State::BeforeValue, AttrKind::Js | AttrKind::Css | AttrKind::Html) => {
                return refused(&c.to_string())
            }
        };
        match c.delim {
            Delim::None => {}
            Delim::Unquoted => escapers.push(Escaper::Unquoted),
            Delim::Double | Delim::Single => escapers.push(Escaper::Html),
        }
        Ok((
            Node::Escaped(merge_predefined(p, &mut escapers), escapers),
            c,
        ))
    }

    /// Literal text `s` in `c`: the text to write and the context after it.
    fn text(&mut self, s: &str, mut c: Ctx) -> R<(String, Ctx)> {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while !rest.is_empty() {
            let (after, used) = match c.state {
                State::Text => text_step(rest, &mut out),
                State::Rcdata => special_content(c, rest, &mut out)?,
                State::RawText => special_content(c, rest, &mut out)?,
                State::Comment => match rest.find("-->") {
                    Some(i) => (Ctx::TEXT, i + 3),
                    None => (c, rest.len()),
                },
                State::Tag => tag_step(c, rest, &mut out)?,
                State::AttrName => {
                    if rest.starts_with(|ch: char| !ends_attr_name(ch)) {
                        return err(format!(
                            "an attribute name continues after an action in {rest:?}: an \
                             action may produce a whole attribute name only"
                        ));
                    }
                    (c.with(State::AfterName), 0)
                }
                State::AfterName => {
                    let i = skip_space(rest);
                    out.push_str(&rest[..i]);
                    match rest.as_bytes().get(i) {
                        None => (c, i),
                        Some(b'=') => {
                            out.push('=');
                            (c.with(State::BeforeValue), i + 1)
                        }
                        Some(_) => (Ctx::tag(c.element), i),
                    }
                }
                State::BeforeValue => {
                    let i = skip_space(rest);
                    out.push_str(&rest[..i]);
                    let value = |delim| Ctx {
                        state: State::Value,
                        delim,
                        url: UrlPart::Start,
                        ..c
                    };
                    match rest.as_bytes().get(i) {
                        None => (c, i),
                        Some(b'"') => {
                            out.push('"');
                            (value(Delim::Double), i + 1)
                        }
                        Some(b'\'') => {
                            out.push('\'');
                            (value(Delim::Single), i + 1)
                        }
                        Some(_) => (value(Delim::Unquoted), i),
                    }
                }
                State::Value => value_step(c, rest, &mut out)?,
            };
            if used == 0 && after == c {
                return err(format!(
                    "HTML template text {rest:?} makes no progress in {c}"
                ));
            }
            c = after;
            rest = &rest[used..];
        }
        self.last_text = tail(s, 32);
        Ok((out, c))
    }
}

/// The last `n` characters of `s`.
fn tail(s: &str, n: usize) -> String {
    let start = s
        .char_indices()
        .rev()
        .nth(n.saturating_sub(1))
        .map_or(0, |(i, _)| i);
    s[start..].to_string()
}

/// `html` or `urlquery` as a command's function.
fn predefined(cmd: &Command) -> Option<Func> {
    match cmd.0.first() {
        Some(Operand::Func(f @ (Func::Html | Func::Urlquery))) => Some(*f),
        _ => None,
    }
}

/// Go's handling of a pipeline ending in `html` or `urlquery`: `{{ html .X }}` is read as
/// `{{ print .X | html }}`, and where an escaper does what that builtin does, the builtin
/// takes the escaper's place and leaves the pipeline.
fn merge_predefined(p: &Pipeline, escapers: &mut [Escaper]) -> Pipeline {
    let mut cmds = p.0.clone();
    let Some(f) = cmds.last().and_then(predefined) else {
        return Pipeline(cmds);
    };
    if let [Command(ops)] = cmds.as_mut_slice() {
        if ops.len() > 1 {
            ops[0] = Operand::Func(Func::Print);
            cmds.push(Command(vec![Operand::Func(f)]));
        }
    }
    let mut merged = false;
    for e in escapers.iter_mut() {
        if e.equals_builtin(f) {
            *e = Escaper::Builtin(f);
            merged = true;
        }
    }
    if merged {
        cmds.pop();
    }
    Pipeline(cmds)
}

/// Whether `ch` ends an attribute name (space, `/`, `=`, `>`).
fn ends_attr_name(ch: char) -> bool {
    matches!(ch, '\t' | '\n' | '\u{c}' | '\r' | ' ' | '/' | '=' | '>')
}

/// The length of the HTML space at the start of `s`.
fn skip_space(s: &str) -> usize {
    s.bytes().take_while(|&c| html_space(c)).count()
}

/// The length of a tag name at the start of `s` (Go's: a letter, then letters and digits,
/// single `-` or `:` between them).
fn tag_name_len(s: &str) -> usize {
    let b = s.as_bytes();
    if !b.first().is_some_and(u8::is_ascii_alphabetic) {
        return 0;
    }
    let mut j = 1;
    while j < b.len() {
        if b[j].is_ascii_alphanumeric() {
            j += 1;
        } else if matches!(b[j], b'-' | b':') && b.get(j + 1).is_some_and(u8::is_ascii_alphanumeric)
        {
            j += 2;
        } else {
            break;
        }
    }
    j
}

/// HTML text up to and including the next tag name or comment start; a `<` that starts
/// neither (nor `<!DOCTYPE`) is written `&lt;`.
fn text_step(s: &str, out: &mut String) -> (Ctx, usize) {
    let Some(lt) = s.find('<') else {
        out.push_str(s);
        return (Ctx::TEXT, s.len());
    };
    out.push_str(&s[..lt]);
    let t = &s[lt..];
    if t.starts_with("<!--") {
        return (Ctx::TEXT.with(State::Comment), lt + 4);
    }
    let name_at = if t.as_bytes().get(1) == Some(&b'/') {
        2
    } else {
        1
    };
    let n = tag_name_len(&t[name_at..]);
    if n > 0 {
        let tag = &t[..name_at + n];
        out.push_str(tag);
        let element = if name_at == 2 {
            Element::None
        } else {
            Element::of(&tag[1..])
        };
        return (Ctx::tag(element), lt + tag.len());
    }
    let doctype = t
        .get(..9)
        .is_some_and(|p| p.eq_ignore_ascii_case("<!doctype"));
    out.push_str(if doctype { "<" } else { "&lt;" });
    (Ctx::TEXT, lt + 1)
}

/// The position of `</name` followed by `>`, space or `/` in `s`, any case.
fn end_tag(s: &str, name: &str) -> Option<usize> {
    let b = s.as_bytes();
    let n = name.len();
    let mut from = 0;
    while let Some(i) = s[from..].find("</").map(|i| from + i) {
        let after = i + 2;
        let matches = b
            .get(after..after + n)
            .is_some_and(|t| t.eq_ignore_ascii_case(name.as_bytes()))
            && b.get(after + n)
                .is_some_and(|&c| html_space(c) || c == b'>' || c == b'/');
        if matches {
            return Some(i);
        }
        from = after;
    }
    None
}

/// The content of `<title>`/`<textarea>` (its `<`s written `&lt;`) or of `<script>`/`<style>`
/// (as it is), up to the element's end tag.
fn special_content(c: Ctx, s: &str, out: &mut String) -> R<(Ctx, usize)> {
    let end = end_tag(s, c.element.name());
    let content = &s[..end.unwrap_or(s.len())];
    if c.state == State::Rcdata {
        out.push_str(&content.replace('<', "&lt;"));
    } else {
        if c.element == Element::Script && content.contains("<!--") {
            return err(
                "`<!--` inside <script> is not supported by Quartet's HTML templates (where \
                 the script ends would depend on what follows it)",
            );
        }
        out.push_str(content);
    }
    Ok(match end {
        Some(i) => (Ctx::TEXT, i),
        None => (c, s.len()),
    })
}

/// In a tag: space, the tag's end, or an attribute's name.
fn tag_step(c: Ctx, s: &str, out: &mut String) -> R<(Ctx, usize)> {
    let i = s
        .bytes()
        .take_while(|&ch| html_space(ch) || ch == b'/')
        .count();
    out.push_str(&s[..i]);
    let rest = &s[i..];
    if rest.is_empty() {
        return Ok((c, i));
    }
    if rest.starts_with('>') {
        out.push('>');
        let state = match c.element {
            Element::None => return Ok((Ctx::TEXT, i + 1)),
            Element::Script | Element::Style => State::RawText,
            Element::Textarea | Element::Title => State::Rcdata,
        };
        return Ok((Ctx::tag(c.element).with(state), i + 1));
    }
    let n = rest.find(ends_attr_name).unwrap_or(rest.len());
    let name = &rest[..n];
    if let Some(bad) = name.chars().find(|ch| matches!(ch, '"' | '\'' | '<')) {
        return err(format!("{bad:?} in an attribute name: {name:?}"));
    }
    if name.is_empty() {
        return err(format!(
            "expected space, an attribute name or the end of a tag, got {rest:?}"
        ));
    }
    out.push_str(name);
    let ctx = Ctx {
        state: if n == rest.len() {
            State::AttrName
        } else {
            State::AfterName
        },
        attr: attr_kind(&name.to_lowercase()),
        ..Ctx::tag(c.element)
    };
    Ok((ctx, i + n))
}

/// In an attribute value: up to its end (the quote, or for an unquoted value space or `>`).
fn value_step(c: Ctx, s: &str, out: &mut String) -> R<(Ctx, usize)> {
    let end = match c.delim {
        Delim::Double => s.find('"'),
        Delim::Single => s.find('\''),
        Delim::Unquoted | Delim::None => s.find(['\t', '\n', '\u{c}', '\r', ' ', '>']),
    };
    let value = &s[..end.unwrap_or(s.len())];
    if matches!(c.delim, Delim::Unquoted | Delim::None) {
        if let Some(bad) = value
            .chars()
            .find(|ch| matches!(ch, '"' | '\'' | '<' | '=' | '`'))
        {
            return err(format!(
                "{bad:?} in an unquoted attribute value: {value:?} (quote the value)"
            ));
        }
    }
    out.push_str(value);
    let Some(end) = end else {
        let url = if c.attr == AttrKind::Url {
            url_part(c.url, &decode_refs(value))
        } else {
            c.url
        };
        return Ok((Ctx { url, ..c }, s.len()));
    };
    if c.delim == Delim::Double || c.delim == Delim::Single {
        out.push_str(&s[end..=end]);
        return Ok((Ctx::tag(c.element), end + 1));
    }
    Ok((Ctx::tag(c.element), end))
}

/// The URL part after the (decoded) literal `text` of a URL attribute. Leading control
/// characters and space count as space, as a URL parser strips them.
fn url_part(before: UrlPart, text: &str) -> UrlPart {
    if text.contains(['?', '#']) {
        UrlPart::QueryOrFragment
    } else if before == UrlPart::Start && text.chars().any(|ch| ch > ' ') {
        UrlPart::PreQuery
    } else {
        before
    }
}

/// `s` with character references decoded: numeric ones, and the named ones that can stand
/// for space, `?`, `#` or `:` (enough to know where a URL is; others are left as they are).
fn decode_refs(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let r = &rest[amp + 1..];
        let (decoded, used) = if let Some(num) = r.strip_prefix('#') {
            let (hex, digits) = match num.strip_prefix(['x', 'X']) {
                Some(h) => (true, h),
                None => (false, num),
            };
            let n = digits
                .bytes()
                .take_while(|c| {
                    if hex {
                        c.is_ascii_hexdigit()
                    } else {
                        c.is_ascii_digit()
                    }
                })
                .count();
            if n == 0 {
                (None, 0)
            } else {
                let radix = if hex { 16 } else { 10 };
                let code = digits[..n].chars().fold(0u32, |code, d| {
                    code.saturating_mul(radix)
                        .saturating_add(d.to_digit(radix).unwrap_or(0))
                });
                let ch = char::from_u32(code)
                    .filter(|&ch| ch != '\0')
                    .unwrap_or('\u{FFFD}');
                let semi = usize::from(digits[n..].starts_with(';'));
                (Some(ch), 1 + usize::from(hex) + n + semi)
            }
        } else {
            [
                ("Tab;", '\t'),
                ("NewLine;", '\n'),
                ("nbsp;", '\u{a0}'),
                ("quest;", '?'),
                ("num;", '#'),
                ("colon;", ':'),
                ("sol;", '/'),
                ("amp;", '&'),
            ]
            .iter()
            .find(|(name, _)| r.starts_with(name))
            .map_or((None, 0), |(name, ch)| (Some(*ch), name.len()))
        };
        match decoded {
            Some(ch) => {
                out.push(ch);
                rest = &r[used..];
            }
            None => {
                out.push('&');
                rest = r;
            }
        }
    }
    out.push_str(rest);
    out
}
