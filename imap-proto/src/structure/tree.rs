//! The MIME part tree of a message, by exact byte ranges (RFC 2045, RFC 2046).
//!
//! ```text
//! multipart-body := [preamble CRLF]
//!                   dash-boundary transport-padding CRLF
//!                   body-part *encapsulation
//!                   close-delimiter transport-padding
//!                   [CRLF epilogue]
//! encapsulation := delimiter transport-padding CRLF body-part
//! delimiter := CRLF dash-boundary
//! dash-boundary := "--" boundary
//! close-delimiter := delimiter "--"
//! ```
//! (RFC 2046 §5.1.1.)
//!
//! The split is Dovecot 2.3's (`message-parser.c`), so that every section FETCH returns is the
//! same range Dovecot returns:
//! - a part is MIME if it is in a multipart, or its header has MIME-Version or Content-Type
//!   (RFC 2045 §4 asks for MIME-Version; Dovecot accepts Content-Type alone); only the first
//!   Content-Type counts; a multipart needs a `boundary` parameter (cut to 80 octets), else its
//!   body is one opaque part with no children;
//! - a delimiter is a line that starts with "--" and a boundary of *any* enclosing multipart,
//!   whatever follows on the line (RFC 2046 §5.1.1 allows only white space; Dovecot does not
//!   check); the longest matching boundary wins, the innermost on a tie; the CRLF (or LF) before
//!   it belongs to the delimiter; a delimiter of an outer multipart ends the inner parts too,
//!   and one found while a part's header is being read ends that header there;
//! - the text after a close delimiter belongs to that multipart, up to the next delimiter of an
//!   outer one;
//! - a part without Content-Type (or not MIME) is `text/plain`, or `message/rfc822` directly
//!   inside `multipart/digest` (RFC 2046 §5.1.5); a `message/rfc822` part's body is parsed as a
//!   message; `message/global` (RFC 6532) is not, as IMAP4rev1 servers do not know it;
//! - nesting deeper than [`Limits::max_depth`] and more parts than [`Limits::max_parts`] are not
//!   split further (Dovecot's limits: 100 and 10000).
//!
//! Line ends may be LF or CRLF. The work is linear in the input times the (bounded) number of
//! open boundaries, and nothing panics.

use std::ops::Range;

use super::header::{find_lf, is_eoh, read_field};
use super::lexer::Lexer;
use super::params;

/// Limits of the part tree; every one has a default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Deepest nesting of multiparts and encapsulated messages that is split (default 100).
    pub max_depth: usize,
    /// Most parts in one message (default 10000); later delimiters are left in the body.
    pub max_parts: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 100,
            max_parts: 10_000,
        }
    }
}

const MULTIPART: u8 = 1;
const RFC822: u8 = 2;
const TEXT: u8 = 4;
const IS_MIME: u8 = 8;
const DIGEST: u8 = 16;

/// Longest boundary kept (RFC 2046 allows 70; Dovecot keeps 80).
const BOUNDARY_MAX: usize = 80;

/// One MIME entity: its header block and its body, as ranges of the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    header: Range<usize>,
    body: Range<usize>,
    eoh: bool,
    flags: u8,
    children: Vec<Part>,
}

impl Part {
    /// The header block, with the empty line that ends it when there is one.
    pub fn header(&self) -> Range<usize> {
        self.header.clone()
    }
    /// The body.
    pub fn body(&self) -> Range<usize> {
        self.body.clone()
    }
    /// The header and the body.
    pub fn whole(&self) -> Range<usize> {
        self.header.start..self.body.end
    }
    /// Whether the header ended with an empty line (rather than at the end of the input or at a
    /// delimiter).
    pub fn header_ends_with_empty_line(&self) -> bool {
        self.eoh
    }
    /// `multipart/*` (the parts are [`Part::children`]; none when the boundary was missing).
    pub fn is_multipart(&self) -> bool {
        self.flags & MULTIPART != 0
    }
    /// `message/rfc822` (explicit or by default in a digest): the one child is the message.
    pub fn is_message(&self) -> bool {
        self.flags & RFC822 != 0
    }
    /// A `text/*` part (or one that defaults to `text/plain`).
    pub fn is_text(&self) -> bool {
        self.flags & TEXT != 0
    }
    /// Whether the part is MIME: in a multipart, or with MIME-Version or Content-Type.
    pub fn is_mime(&self) -> bool {
        self.flags & IS_MIME != 0
    }
    /// The parts of a multipart, or the message of a `message/rfc822` part.
    pub fn children(&self) -> &[Part] {
        &self.children
    }
}

struct Node {
    parent: Option<usize>,
    header: Range<usize>,
    body_start: usize,
    body_end: Option<usize>,
    eoh: bool,
    flags: u8,
    depth: usize,
    children: Vec<usize>,
}

impl Node {
    fn new(parent: Option<usize>, start: usize, depth: usize, flags: u8) -> Self {
        Node {
            parent,
            header: start..start,
            body_start: start,
            body_end: None,
            eoh: false,
            flags,
            depth,
            children: Vec::new(),
        }
    }
}

struct Boundary {
    text: Vec<u8>,
    owner: usize,
}

struct Parser<'a> {
    data: &'a [u8],
    nodes: Vec<Node>,
    boundaries: Vec<Boundary>,
    limits: Limits,
}

enum HeaderEnd {
    /// The body starts at this position.
    Body(usize),
    /// A delimiter at this position ended the header.
    Delimiter(usize),
}

impl Parser<'_> {
    fn too_many(&self, node: usize) -> bool {
        self.nodes[node].depth + 1 >= self.limits.max_depth
            || self.nodes.len() >= self.limits.max_parts
    }

    fn add_child(&mut self, parent: usize, start: usize, flags: u8) -> usize {
        let id = self.nodes.len();
        let depth = self.nodes[parent].depth + 1;
        self.nodes
            .push(Node::new(Some(parent), start, depth, flags));
        self.nodes[parent].children.push(id);
        id
    }

    /// The boundary (index into the stack) whose delimiter line starts at `pos`, if any.
    fn delimiter_at(&self, pos: usize) -> Option<usize> {
        if self.boundaries.is_empty() {
            return None;
        }
        let rest = self.data.get(pos..)?;
        if rest.len() < 2 || rest[0] != b'-' || rest[1] != b'-' {
            return None;
        }
        let after = &rest[2..];
        // The line without its line break (a close delimiter's "--" stays: a boundary may end
        // in "--" itself, as `__--__--` does).
        let find_size = match memchr::memchr(b'\n', after) {
            Some(lf) if lf > 0 && after[lf - 1] == b'\r' => lf - 1,
            Some(lf) => lf,
            None => after.len().min(BOUNDARY_MAX + 4),
        };
        let mut best: Option<usize> = None;
        for (i, b) in self.boundaries.iter().enumerate().rev() {
            if b.text.len() <= find_size
                && after.starts_with(&b.text)
                && best.is_none_or(|j| self.boundaries[j].text.len() < b.text.len())
            {
                best = Some(i);
                if b.text.len() == find_size {
                    break;
                }
            }
        }
        best
    }

    /// Reads the header of `cur` from `start`; sets its header range and flags.
    fn header(&mut self, cur: usize, start: usize) -> HeaderEnd {
        let data = self.data;
        let mut pos = start;
        let mut prev_newline = 0;
        let mut seen_content_type = false;
        let mut boundary: Option<Vec<u8>> = None;
        let mut flags = self.nodes[cur].flags;
        let mut multipart = false;
        let end = loop {
            if pos >= data.len() {
                break HeaderEnd::Body(data.len());
            }
            let eoh = is_eoh(data, pos);
            if eoh
                && flags & IS_MIME != 0
                && let Some(b) = boundary.take()
            {
                if self.too_many(cur) {
                    flags &= !MULTIPART;
                } else {
                    self.boundaries.push(Boundary {
                        text: b,
                        owner: cur,
                    });
                    multipart = true;
                }
            }
            if let Some(b) = self.delimiter_at(pos)
                && self.boundaries[b].owner != cur
            {
                // The line break before the delimiter belongs to it.
                break HeaderEnd::Delimiter(pos - prev_newline);
            }
            if eoh {
                self.nodes[cur].eoh = true;
                break HeaderEnd::Body(pos + if data[pos] == b'\r' { 2 } else { 1 });
            }
            let field = read_field(data, pos);
            let name = &data[field.name.clone()];
            if name.eq_ignore_ascii_case(b"MIME-Version") {
                flags |= IS_MIME;
            } else if name.eq_ignore_ascii_case(b"Content-Type") {
                flags |= IS_MIME;
                if !seen_content_type {
                    seen_content_type = true;
                    flags |= content_type_flags(&data[field.value.clone()], &mut boundary);
                }
            }
            prev_newline = field.newline;
            pos = field.whole.end;
        };
        let header_end = match end {
            HeaderEnd::Body(p) | HeaderEnd::Delimiter(p) => p,
        };
        if flags & IS_MIME == 0 {
            flags = 0;
        }
        if !seen_content_type || flags & IS_MIME == 0 {
            let digest = self.nodes[cur]
                .parent
                .is_some_and(|p| self.nodes[p].flags & DIGEST != 0);
            flags |= if digest { RFC822 } else { TEXT };
        }
        if multipart {
            // The body is split at the delimiters.
        } else if flags & MULTIPART != 0 {
            // No boundary: one opaque body.
        } else if flags & RFC822 != 0 && self.too_many(cur) {
            flags &= !RFC822;
        }
        let node = &mut self.nodes[cur];
        node.header = start..header_end;
        node.body_start = header_end;
        node.flags = flags;
        match end {
            HeaderEnd::Delimiter(_) => {
                node.body_end = Some(header_end);
                if flags & RFC822 != 0 && flags & MULTIPART == 0 {
                    let child = self.add_child(cur, header_end, 0);
                    let c = &mut self.nodes[child];
                    c.flags = TEXT;
                    c.body_end = Some(header_end);
                }
                HeaderEnd::Delimiter(pos)
            }
            HeaderEnd::Body(p) => HeaderEnd::Body(p),
        }
    }

    /// Ends `node` (if still open) at `at`.
    fn close(&mut self, node: usize, at: usize) {
        let n = &mut self.nodes[node];
        if n.body_end.is_none() {
            n.body_end = Some(at.max(n.body_start));
        }
    }

    fn close_all(&mut self, mut cur: usize) {
        let end = self.data.len();
        loop {
            self.close(cur, end);
            match self.nodes[cur].parent {
                Some(p) => cur = p,
                None => break,
            }
        }
    }

    fn run(&mut self) {
        let data = self.data;
        let mut cur = 0;
        let mut pos = 0;
        let mut in_header = true;
        loop {
            if in_header {
                match self.header(cur, pos) {
                    HeaderEnd::Delimiter(p) => {
                        pos = p;
                    }
                    HeaderEnd::Body(p) => {
                        pos = p;
                        let flags = self.nodes[cur].flags;
                        if flags & RFC822 != 0 && flags & MULTIPART == 0 {
                            cur = self.add_child(cur, pos, 0);
                            continue;
                        }
                    }
                }
                in_header = false;
            }
            // The body of `cur` from `pos`, a line start: up to the next delimiter.
            let mut found = None;
            if !self.boundaries.is_empty() {
                if let Some(b) = self.delimiter_at(pos) {
                    found = Some((pos, pos, b));
                } else {
                    let mut i = pos;
                    while let Some(lf) = find_lf(data, i) {
                        if let Some(b) = self.delimiter_at(lf + 1) {
                            let cut = if lf > pos && data[lf - 1] == b'\r' {
                                lf - 1
                            } else {
                                lf
                            };
                            found = Some((lf + 1, cut, b));
                            break;
                        }
                        i = lf + 1;
                    }
                }
            }
            let Some((line, cut, b)) = found else {
                self.close_all(cur);
                return;
            };
            let owner = self.boundaries[b].owner;
            while cur != owner {
                self.close(cur, cut);
                match self.nodes[cur].parent {
                    Some(p) => cur = p,
                    None => break,
                }
            }
            let len = self.boundaries[b].text.len();
            let close = data.get(line + 2 + len..line + 4 + len) == Some(b"--");
            self.boundaries.truncate(if close { b } else { b + 1 });
            let Some(lf) = find_lf(data, line) else {
                self.close_all(cur);
                return;
            };
            pos = lf + 1;
            if self.boundaries.last().is_some_and(|b| b.owner == cur)
                && self.nodes.len() < self.limits.max_parts
            {
                cur = self.add_child(cur, pos, IS_MIME);
                in_header = true;
            }
        }
    }

    fn build(&self, id: usize) -> Part {
        let n = &self.nodes[id];
        let body_end = n.body_end.unwrap_or(self.data.len()).max(n.body_start);
        Part {
            header: n.header.clone(),
            body: n.body_start..body_end,
            eoh: n.eoh,
            flags: n.flags,
            children: n.children.iter().map(|&c| self.build(c)).collect(),
        }
    }
}

/// The flags a Content-Type value gives a part, and its boundary when it is a multipart.
fn content_type_flags(value: &[u8], boundary: &mut Option<Vec<u8>>) -> u8 {
    let mut lx = Lexer::new(value);
    let _ = lx.skip_lwsp();
    let mut ct = Vec::new();
    let step = lx.content_type(&mut ct);
    let mut flags = 0;
    if ct.eq_ignore_ascii_case(b"message/rfc822") {
        flags |= RFC822;
    } else if ct.len() >= 4
        && ct[..4].eq_ignore_ascii_case(b"text")
        && ct.get(4).is_none_or(|&c| c == b'/')
    {
        flags |= TEXT;
    } else if ct.len() >= 10 && ct[..10].eq_ignore_ascii_case(b"multipart/") {
        flags |= MULTIPART;
        if ct[10..].eq_ignore_ascii_case(b"digest") {
            flags |= DIGEST;
        }
    }
    if step.invalid() || flags & MULTIPART == 0 || boundary.is_some() {
        return flags;
    }
    let (list, _) = params::parse(&mut lx);
    if let Some((_, v)) = list
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(b"boundary"))
    {
        let mut v = v;
        v.truncate(BOUNDARY_MAX);
        *boundary = Some(v);
    }
    flags
}

/// Splits a message into its part tree.
pub fn parse(data: &[u8], limits: Limits) -> Part {
    let mut p = Parser {
        data,
        nodes: vec![Node::new(None, 0, 0, 0)],
        boundaries: Vec::new(),
        limits,
    };
    p.run();
    p.build(0)
}
