//! The `DATA` body: streaming dot-unstuffing for the server, dot-stuffing for the client
//! (RFC 5321 §4.5.2), hardened against SMTP smuggling.
//!
//! The end of data is only ever `CRLF "." CRLF` where the first CRLF is a real one from the peer
//! (RFC 5321 §4.1.1.4: "the end of mail data indicator ... `<CRLF>.<CRLF>`"). `<LF>.<LF>`,
//! `<LF>.<CR><LF>`, `<CR><LF>.<LF>` and `<CR>.<CR>` never end the message: under
//! [`BareLineEnding::Reject`] a bare CR or LF is an error, under [`BareLineEnding::Normalize`] it is
//! turned into CRLF (as Postfix's `smtpd_forbid_bare_newline = normalize`) and a line start
//! reached that way cannot begin the end marker.

use bytes::{Bytes, BytesMut};

/// What to do with a CR or LF that is not part of a CRLF pair inside message data
/// (RFC 5321 §2.3.8 forbids them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BareLineEnding {
    /// Stop with an error (the server replies and closes the connection). The default.
    #[default]
    Reject,
    /// Replace it with CRLF; it never counts toward the end-of-data marker.
    Normalize,
}

/// A smuggling attempt or other breach of the data grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// A LF without CR before it.
    #[error("bare <LF> in message data")]
    BareLf,
    /// A CR without LF after it.
    #[error("bare <CR> in message data")]
    BareCr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Inside a line.
    Body,
    /// A CR was the last byte seen (not yet written out).
    Cr,
    /// At the start of a line; `strict` when reached by a real CRLF (or at the start of data).
    LineStart { strict: bool },
    /// A dot at a line start was seen (not yet written out).
    Dot { strict: bool },
    /// `.` CR at a line start was seen.
    DotCr { strict: bool },
}

/// Streaming dot-unstuffer for the server side of `DATA`.
///
/// Feed it input with [`DataDecoder::decode`], which copies the unstuffed content into a buffer,
/// or with [`DataDecoder::decode_bytes`], which hands the content out as slices of the input
/// without copying it. Either reports how many bytes it consumed and whether the end marker was
/// reached. Bytes after the end marker are left unconsumed (they are the next pipelined command).
///
/// Well-formed text is checked 64 octets at a time (every CR followed by LF, every LF preceded
/// by CR, the periods that start a line found): by AVX-512 or AVX2 compares when the processor
/// has them (chosen at run time, once, through `pulp`; feature `simd`, on by default), by a
/// loop the compiler vectorises for the baseline instruction set otherwise. Dot-stuffed lines are unstuffed on the way; only
/// blocks that fail the check, the end marker, or lines that could exceed the limit go through
/// the octet-by-octet state machine.
#[derive(Clone, Debug)]
pub struct DataDecoder {
    state: State,
    policy: BareLineEnding,
    line_len: usize,
    max_line: usize,
    line_too_long: bool,
    /// Reused by [`DataDecoder::decode_bytes`].
    pieces: Vec<Piece>,
    /// The instruction set of the block path (see [`arch`]); read only with `simd`, as
    /// without it there is one.
    #[cfg_attr(not(feature = "simd"), allow(dead_code))]
    arch: Arch,
}

/// Progress of [`DataDecoder::decode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// Bytes of input consumed.
    pub consumed: usize,
    /// Whether `CRLF.CRLF` was reached (the marker is consumed, not written).
    pub end: bool,
}

/// A piece of decoded content: a range of the input, or octets the decoder adds.
#[derive(Clone, Copy, Debug)]
enum Piece {
    Input(usize, usize),
    Lit(&'static [u8]),
}

/// Where the decoder puts content: copied into a buffer, or recorded as pieces of the input.
trait Sink {
    /// Content `input[from..to]`, verbatim.
    fn copy(&mut self, input: &[u8], from: usize, to: usize);
    /// Content that is not in the input as such (a line ending made CRLF, a kept period).
    fn lit(&mut self, s: &'static [u8]);
}

impl Sink for BytesMut {
    #[inline]
    fn copy(&mut self, input: &[u8], from: usize, to: usize) {
        self.extend_from_slice(&input[from..to]);
    }
    #[inline]
    fn lit(&mut self, s: &'static [u8]) {
        self.extend_from_slice(s);
    }
}

impl Sink for Vec<Piece> {
    #[inline]
    fn copy(&mut self, _: &[u8], from: usize, to: usize) {
        if from == to {
            return;
        }
        if let Some(Piece::Input(_, end)) = self.last_mut()
            && *end == from
        {
            *end = to;
            return;
        }
        self.push(Piece::Input(from, to));
    }
    #[inline]
    fn lit(&mut self, s: &'static [u8]) {
        self.push(Piece::Lit(s));
    }
}

/// Octets checked at a time by [`scan_block`].
const BLOCK: usize = 64;

/// Checks the octet pairs `(a[k], b[k])`, where `b` is `a` one octet on, without branches so
/// that the loop is vectorised. Returns whether a pair is odd, that is breaks CRLF pairing (a CR
/// not followed by LF, or a LF not preceded by CR: RFC 5321 §2.3.8) or is a LF followed by a
/// period (a line that may be dot-stuffed or the end marker), and whether `b` holds a LF.
// Inlined into the block loop so that the reduction is not a call per block.
#[allow(clippy::inline_always)]
#[inline(always)]
fn scan_block(a: &[u8; BLOCK], b: &[u8; BLOCK]) -> (bool, bool) {
    let (mut odd, mut lf) = (0u8, 0u8);
    for k in 0..BLOCK {
        let b_lf = u8::from(b[k] == b'\n');
        odd |=
            (u8::from(a[k] == b'\r') ^ b_lf) | (u8::from(a[k] == b'\n') & u8::from(b[k] == b'.'));
        lf |= b_lf;
    }
    (odd != 0, lf != 0)
}

/// In a block [`scan_block`] found odd, the offset of the first LF followed by a period, when
/// the block has no broken CRLF pair.
#[inline]
fn first_dot(a: &[u8; BLOCK], b: &[u8; BLOCK]) -> Option<usize> {
    let mut bad = 0u8;
    for k in 0..BLOCK {
        bad |= u8::from(a[k] == b'\r') ^ u8::from(b[k] == b'\n');
    }
    if bad != 0 {
        return None;
    }
    let mut k = 0;
    while let Some(off) = memchr::memchr(b'\n', &a[k..]) {
        k += off;
        if b[k] == b'.' {
            return Some(k);
        }
        k += 1;
    }
    None
}

/// The instruction sets the block path can use: `pulp`'s safe runtime dispatch to AVX2 and
/// AVX-512 (feature `simd`).
#[cfg(feature = "simd")]
type Arch = pulp::Arch;

/// Without the `simd` feature, the block path has the baseline instruction set only.
#[cfg(not(feature = "simd"))]
#[derive(Clone, Copy, Debug)]
struct Arch;

/// The widest instruction set of this processor that the block path uses, detected once per
/// process.
#[cfg(feature = "simd")]
fn arch() -> Arch {
    static ARCH: std::sync::OnceLock<pulp::Arch> = std::sync::OnceLock::new();
    *ARCH.get_or_init(pulp::Arch::new)
}

/// The baseline instruction set (no `simd` feature).
#[cfg(not(feature = "simd"))]
fn arch() -> Arch {
    Arch
}

/// The CR, LF and period positions of a block, one bit per octet (bit `k` for octet `k`).
#[cfg(feature = "simd")]
#[derive(Clone, Copy)]
struct Masks {
    cr: u64,
    lf: u64,
    dot: u64,
}

/// Finds the [`Masks`] of a block. Every call down from `pulp`'s dispatch is inlined
/// (`inline(always)`, no closures), so that the vector compares are compiled for the instruction
/// set chosen at run time rather than called out of line.
#[cfg(feature = "simd")]
trait MaskScan: Copy {
    /// The masks of `b`.
    fn masks(self, b: &[u8; BLOCK]) -> Masks;
}

/// A call of [`DataDecoder::mask_blocks`] for `pulp` to run in a function compiled for the
/// instruction set of `scan`. A closure would do, but is not always inlined there, and then
/// the compares are calls.
#[cfg(feature = "simd")]
struct MaskBlocks<'a, M, S> {
    decoder: &'a mut DataDecoder,
    scan: M,
    input: &'a [u8],
    i: &'a mut usize,
    start: &'a mut usize,
    out: &'a mut S,
}

#[cfg(feature = "simd")]
impl<M: MaskScan, S: Sink> pulp::NullaryFnOnce for MaskBlocks<'_, M, S> {
    type Output = ();

    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn call(self) {
        self.decoder
            .mask_blocks(self.scan, self.input, self.i, self.start, self.out);
    }
}

/// [`Masks`] by vector compares: AVX-512 (one 64-octet compare per mask) or AVX2 (two of 32
/// and a move of each result to a bit mask), through `pulp`'s safe wrappers of the intrinsics.
#[cfg(all(feature = "simd", target_arch = "x86_64"))]
mod simd_x86 {
    use std::arch::x86_64::{__m256i, __m512i};

    use pulp::x86::{V3, V4};

    use super::{BLOCK, MaskScan, Masks};

    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn splat(c: u8) -> i8 {
        i8::from_ne_bytes([c])
    }

    impl MaskScan for V4 {
        #[allow(clippy::inline_always)]
        #[inline(always)]
        fn masks(self, b: &[u8; BLOCK]) -> Masks {
            let v: __m512i = pulp::bytemuck::cast(*b);
            let (bw, f) = (self.avx512bw, self.avx512f);
            Masks {
                cr: bw._mm512_cmpeq_epi8_mask(v, f._mm512_set1_epi8(splat(b'\r'))),
                lf: bw._mm512_cmpeq_epi8_mask(v, f._mm512_set1_epi8(splat(b'\n'))),
                dot: bw._mm512_cmpeq_epi8_mask(v, f._mm512_set1_epi8(splat(b'.'))),
            }
        }
    }

    impl MaskScan for V3 {
        #[allow(clippy::inline_always)]
        #[inline(always)]
        fn masks(self, b: &[u8; BLOCK]) -> Masks {
            let [lo, hi]: [__m256i; 2] = pulp::bytemuck::cast(*b);
            Masks {
                cr: bits_v3(self, lo, hi, b'\r'),
                lf: bits_v3(self, lo, hi, b'\n'),
                dot: bits_v3(self, lo, hi, b'.'),
            }
        }
    }

    /// The octets of `lo` then `hi` equal to `c`, one bit each.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn bits_v3(simd: V3, lo: __m256i, hi: __m256i, c: u8) -> u64 {
        let (avx, avx2) = (simd.avx, simd.avx2);
        let c = avx._mm256_set1_epi8(splat(c));
        let lo = avx2._mm256_movemask_epi8(avx2._mm256_cmpeq_epi8(lo, c));
        let hi = avx2._mm256_movemask_epi8(avx2._mm256_cmpeq_epi8(hi, c));
        u64::from(u32::from_ne_bytes(lo.to_ne_bytes()))
            | (u64::from(u32::from_ne_bytes(hi.to_ne_bytes())) << 32)
    }
}

impl DataDecoder {
    /// A decoder at the start of the body. `max_line` is the longest text line allowed, CRLF
    /// included (RFC 5321 §4.5.3.1.6: 1000); longer lines are flagged, not cut.
    pub fn new(policy: BareLineEnding, max_line: usize) -> Self {
        DataDecoder {
            state: State::LineStart { strict: true },
            policy,
            line_len: 0,
            max_line: max_line.saturating_sub(2),
            line_too_long: false,
            pieces: Vec::new(),
            arch: arch(),
        }
    }

    /// Whether a line longer than the limit was seen.
    pub fn line_too_long(&self) -> bool {
        self.line_too_long
    }

    fn bare(&self, e: DataError) -> Result<(), DataError> {
        match self.policy {
            BareLineEnding::Reject => Err(e),
            BareLineEnding::Normalize => Ok(()),
        }
    }

    /// Decodes as much of `input` as possible, copying the content into `out`.
    pub fn decode(&mut self, input: &[u8], out: &mut BytesMut) -> Result<Decoded, DataError> {
        self.run(input, out)
    }

    /// Decodes as much of `input` as possible without copying: the content is split off the
    /// front of `input` and handed to `emit` as [`Bytes`] (several pieces when periods are
    /// removed or line endings added), and the consumed octets (the end marker included) are
    /// removed from `input`. On error nothing is emitted and `input` is left as it was.
    pub fn decode_bytes(
        &mut self,
        input: &mut BytesMut,
        mut emit: impl FnMut(Bytes),
    ) -> Result<Decoded, DataError> {
        let mut pieces = std::mem::take(&mut self.pieces);
        pieces.clear();
        let res = self.run(input, &mut pieces);
        if let Ok(d) = res {
            // One split for the whole consumed part, then a slice of it per piece.
            let consumed = input.split_to(d.consumed).freeze();
            if let [Piece::Input(0, to)] = pieces[..]
                && to == consumed.len()
            {
                emit(consumed);
            } else {
                for piece in pieces.drain(..) {
                    match piece {
                        Piece::Input(from, to) => emit(consumed.slice(from..to)),
                        Piece::Lit(s) => emit(Bytes::from_static(s)),
                    }
                }
            }
        }
        self.pieces = pieces;
        res
    }

    /// Decodes as much of `input` as possible and returns the content as one [`Bytes`]: a slice
    /// of `input` when the decoded part needed no change (no period removed, no line ending
    /// added), a copy otherwise. The consumed octets are removed from `input`; on error nothing
    /// is removed.
    pub fn decode_chunk(&mut self, input: &mut BytesMut) -> Result<(Decoded, Bytes), DataError> {
        let capacity = input.len();
        let mut one: Option<Bytes> = None;
        let mut joined: Option<BytesMut> = None;
        let d = self.decode_bytes(input, |piece| {
            if let Some(j) = &mut joined {
                j.extend_from_slice(&piece);
            } else if let Some(first) = one.take() {
                let mut j = BytesMut::with_capacity(capacity.max(first.len() + piece.len()));
                j.extend_from_slice(&first);
                j.extend_from_slice(&piece);
                joined = Some(j);
            } else {
                one = Some(piece);
            }
        })?;
        let content = joined.map(BytesMut::freeze).or(one).unwrap_or_default();
        Ok((d, content))
    }

    fn run<S: Sink>(&mut self, input: &[u8], out: &mut S) -> Result<Decoded, DataError> {
        let len = input.len();
        let mut i = 0;
        // `input[start..i]` is content still to be copied verbatim.
        let mut start = 0;
        while i < len {
            match self.state {
                State::Body => {
                    let limit = if self.fast_blocks(input, &mut i, &mut start, out) {
                        i + 2 * BLOCK
                    } else {
                        usize::MAX
                    };
                    if i < len && self.state == State::Body {
                        self.fast_lines(input, &mut i, limit);
                        if i < len && self.state == State::Body {
                            self.body_line(input, &mut i, &mut start, out)?;
                        }
                    }
                }
                State::Cr => {
                    if input[i] == b'\n' {
                        out.lit(b"\r\n");
                        i += 1;
                        start = i;
                        self.new_line(true);
                    } else {
                        self.bare(DataError::BareCr)?;
                        out.lit(b"\r\n");
                        start = i;
                        self.new_line(false);
                    }
                }
                State::LineStart { strict } => {
                    if input[i] == b'.' {
                        out.copy(input, start, i);
                        i += 1;
                        start = i;
                        self.state = State::Dot { strict };
                    } else {
                        self.state = State::Body;
                    }
                }
                State::Dot { strict } => match input[i] {
                    b'\r' => {
                        i += 1;
                        start = i;
                        self.state = State::DotCr { strict };
                    }
                    b'\n' => {
                        self.bare(DataError::BareLf)?;
                        out.lit(b".\r\n");
                        i += 1;
                        start = i;
                        self.new_line(false);
                    }
                    // RFC 5321 §4.5.2: the first of a line's leading periods is deleted.
                    _ => {
                        self.line_len = 0;
                        self.state = State::Body;
                    }
                },
                State::DotCr { strict } => {
                    if input[i] == b'\n' {
                        i += 1;
                        if strict {
                            return Ok(Decoded {
                                consumed: i,
                                end: true,
                            });
                        }
                        // A line start reached through a normalised bare CR or LF: "." is content.
                        out.lit(b".\r\n");
                        start = i;
                        self.new_line(true);
                    } else {
                        self.bare(DataError::BareCr)?;
                        out.lit(b".\r\n");
                        start = i;
                        self.new_line(false);
                    }
                }
            }
        }
        out.copy(input, start, i);
        Ok(Decoded {
            consumed: i,
            end: false,
        })
    }

    /// From state `Body`: the block path. Checks `input` from `*i` a [`BLOCK`] at a time with
    /// [`scan_block`] and moves past every block that is plain text (CRLF pairs only), leaving
    /// it in place to be copied or sliced in bulk later. A dot-stuffed line is unstuffed on the
    /// way (RFC 5321 §4.5.2: the content before its period goes to `out`, and `*start` moves
    /// past the period). Stops at a line that is a lone period or a period and a CR or LF (in
    /// state `LineStart`, `*i` at the period, for the state machine to decide whether it is the
    /// end marker), or in state `Body` before a block it cannot vouch for: one with a bare CR or
    /// LF, one in which a line could pass the length limit, or the last octets of the input.
    /// Returns whether the path was open at all (it is not for limits under two blocks).
    ///
    /// Line lengths are tracked by an upper bound (the current line is no longer than the octets
    /// since the start of the last block that held a LF) and made exact only where the path
    /// stops, so long lines are still measured exactly by the octet-wise path.
    fn fast_blocks<S: Sink>(
        &mut self,
        input: &[u8],
        i: &mut usize,
        start: &mut usize,
        out: &mut S,
    ) -> bool {
        if self.max_line < 2 * BLOCK {
            return false;
        }
        // A LF here is bare: the pairs checked below start with `input[*i]`.
        if input[*i] == b'\n' {
            return true;
        }
        // The widest instruction set the processor has, chosen once (see `arch`); the block
        // loop is inlined into a function compiled for it.
        #[cfg(feature = "simd")]
        match self.arch {
            #[cfg(target_arch = "x86_64")]
            pulp::Arch::V4(scan) => pulp::Simd::vectorize(
                scan,
                MaskBlocks {
                    decoder: self,
                    scan,
                    input,
                    i,
                    start,
                    out,
                },
            ),
            #[cfg(target_arch = "x86_64")]
            pulp::Arch::V3(scan) => pulp::Simd::vectorize(
                scan,
                MaskBlocks {
                    decoder: self,
                    scan,
                    input,
                    i,
                    start,
                    out,
                },
            ),
            _ => self.pair_blocks(input, i, start, out),
        }
        #[cfg(not(feature = "simd"))]
        self.pair_blocks(input, i, start, out);
        true
    }

    /// [`DataDecoder::fast_blocks`] with the CR, LF and period positions of each block as
    /// bit masks (one bit per octet, from vector compares): a CR must be followed by a LF and
    /// a LF preceded by a CR (RFC 5321 §2.3.8), that is the CR mask shifted one octet on equals
    /// the LF mask; a period right after a LF starts a line to unstuff or the end marker. The
    /// octet before each block is carried in as bit 0, so blocks need no overlap.
    #[cfg(feature = "simd")]
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn mask_blocks<S: Sink>(
        &mut self,
        scan: impl MaskScan,
        input: &[u8],
        i: &mut usize,
        start: &mut usize,
        out: &mut S,
    ) {
        let len = input.len();
        let mut p = *i;
        // The current line has `known` octets at `from`; it is at most `bound` octets at `p`.
        let (mut from, mut known) = (p, self.line_len);
        let mut bound = known;
        // Whether the octet before `p` is a CR, a LF: none at the start (a LF at `*i` is bare,
        // and a period at `*i` was already seen by the caller).
        let (mut cr_in, mut lf_in) = (0u64, 0u64);
        let max_line = self.max_line;
        'blocks: loop {
            // Plain text, by a tight loop (few live values, so no spills); it leaves at a
            // block with something to do, `m` its masks.
            let m = loop {
                if p + BLOCK > len || bound + BLOCK > max_line {
                    break 'blocks;
                }
                let Ok(block) = <&[u8; BLOCK]>::try_from(&input[p..p + BLOCK]) else {
                    break 'blocks;
                };
                let m = scan.masks(block);
                if ((m.cr << 1) | cr_in) != m.lf || ((m.lf << 1) | lf_in) & m.dot != 0 {
                    break m;
                }
                cr_in = m.cr >> (BLOCK - 1);
                lf_in = m.lf >> (BLOCK - 1);
                bound = if m.lf == 0 { bound + BLOCK } else { BLOCK };
                p += BLOCK;
            };
            if (m.cr << 1) | cr_in != m.lf {
                // A bare CR or LF in this block (or a CR ending the last one): octet-wise.
                break;
            }
            let mut dots = ((m.lf << 1) | lf_in) & m.dot;
            cr_in = m.cr >> (BLOCK - 1);
            lf_in = m.lf >> (BLOCK - 1);
            bound = if m.lf == 0 { bound + BLOCK } else { BLOCK };
            while dots != 0 {
                let dot = p + dots.trailing_zeros() as usize;
                dots &= dots - 1;
                if self.line_start_period(input, i, start, out, dot) {
                    return;
                }
                (from, known) = (dot + 1, 0);
            }
            p += BLOCK;
        }
        if p == *i {
            return;
        }
        if lf_in != 0 {
            // A CRLF (checked) ends the last block: stop at the line start, whose first octet
            // has not been looked at.
            *i = p;
            self.line_len = 0;
            self.state = State::LineStart { strict: true };
            return;
        }
        self.stop_blocks(input, i, p, from, known);
    }

    /// The block path without vector masks (processors without AVX2, other architectures):
    /// pairs of neighbouring octets compared by [`scan_block`], which the compiler vectorises
    /// for the baseline instruction set.
    fn pair_blocks<S: Sink>(
        &mut self,
        input: &[u8],
        i: &mut usize,
        start: &mut usize,
        out: &mut S,
    ) {
        let len = input.len();
        let mut p = *i;
        // The current line has `known` octets at `from`; it is at most `bound` octets at `p`.
        let (mut from, mut known) = (p, self.line_len);
        let mut bound = known;
        while p + BLOCK < len && bound + BLOCK <= self.max_line {
            let (Ok(here), Ok(next)) = (
                <&[u8; BLOCK]>::try_from(&input[p..p + BLOCK]),
                <&[u8; BLOCK]>::try_from(&input[p + 1..=p + BLOCK]),
            ) else {
                break;
            };
            let (odd, lf) = scan_block(here, next);
            if !odd {
                bound = if lf { BLOCK } else { bound + BLOCK };
                p += BLOCK;
                continue;
            }
            // Every LF before the period ends a well-formed line no longer than `bound + BLOCK`.
            let Some(k) = first_dot(here, next) else {
                break;
            };
            let dot = p + k + 1;
            if self.line_start_period(input, i, start, out, dot) {
                return;
            }
            p = dot + 1;
            (from, known, bound) = (p, 0, 0);
        }
        if p == *i {
            return;
        }
        self.stop_blocks(input, i, p, from, known);
    }

    /// A period starting a line, at `dot`, met by a block path. `.CRLF` (the end marker, or not
    /// when strictness says so), a period followed by a bare CR or LF, or one at the end of the
    /// input: the block path stops there for the state machine to decide (`true`, `*i` set).
    /// Otherwise the period is deleted (RFC 5321 §4.5.2): the content before it is copied and
    /// `*start` moves past it (`false`). Inlined, like the mask path that calls it.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn line_start_period<S: Sink>(
        &mut self,
        input: &[u8],
        i: &mut usize,
        start: &mut usize,
        out: &mut S,
        dot: usize,
    ) -> bool {
        if let Some(b'\r' | b'\n') | None = input.get(dot + 1) {
            *i = dot;
            self.line_len = 0;
            self.state = State::LineStart { strict: true };
            return true;
        }
        out.copy(input, *start, dot);
        *start = dot + 1;
        false
    }

    /// Where the block path stops at `p`, in state `Body`, the current line having `known`
    /// octets at `from`: the exact length of the current line, and `*i`.
    fn stop_blocks(
        &mut self,
        input: &[u8],
        i: &mut usize,
        mut p: usize,
        from: usize,
        known: usize,
    ) {
        // Do not stop between the CR and the LF of a pair (the LF would look bare).
        if p > from && input[p - 1] == b'\r' {
            p -= 1;
        }
        self.line_len = match memchr::memrchr(b'\n', &input[from..p]) {
            Some(lf) => p - (from + lf + 1),
            None => known + (p - from),
        };
        if self.line_len > self.max_line {
            self.line_too_long = true;
        }
        *i = p;
    }

    /// From state `Body`: the line path over well-formed lines. Jumps from one CR or LF to the
    /// next with `memchr2`; as long as each hit is a CRLF pair (RFC 5321 §2.3.8) and the next line
    /// does not start with a period, the line is left in place to be copied in bulk later (the
    /// caller's `start` stays put). Stops with `i` at the first line it cannot vouch for (a bare CR
    /// or LF, a CR at the end of the input), still in state `Body`, for `body_line` to handle;
    /// after a CRLF followed by a period, in state `LineStart`; or at the start of the first line
    /// that begins at or after `limit`, in state `Body`, for the block path to take over.
    fn fast_lines(&mut self, input: &[u8], i: &mut usize, limit: usize) {
        let len = input.len();
        let mut p = *i;
        while let Some(off) = memchr::memchr2(b'\r', b'\n', &input[p..]) {
            let cr = p + off;
            if input[cr] != b'\r' || cr + 2 >= len || input[cr + 1] != b'\n' {
                break;
            }
            self.add_line_len(off);
            self.line_len = 0;
            p = cr + 2;
            if input[p] == b'.' {
                self.state = State::LineStart { strict: true };
                break;
            }
            if p >= limit {
                break;
            }
        }
        *i = p;
    }

    /// From state `Body`: handles input up to and including the next CR or LF, byte-wise.
    fn body_line<S: Sink>(
        &mut self,
        input: &[u8],
        i: &mut usize,
        start: &mut usize,
        out: &mut S,
    ) -> Result<(), DataError> {
        let len = input.len();
        match memchr::memchr2(b'\r', b'\n', &input[*i..]) {
            None => {
                self.add_line_len(len - *i);
                *i = len;
            }
            Some(off) => {
                let p = *i + off;
                self.add_line_len(off);
                if input[p] == b'\n' {
                    out.copy(input, *start, p);
                    self.bare(DataError::BareLf)?;
                    out.lit(b"\r\n");
                    *i = p + 1;
                    *start = *i;
                    self.new_line(false);
                } else if p + 1 == len {
                    out.copy(input, *start, p);
                    *i = len;
                    *start = len;
                    self.state = State::Cr;
                } else if input[p + 1] == b'\n' {
                    *i = p + 2;
                    self.new_line(true);
                } else {
                    out.copy(input, *start, p);
                    self.bare(DataError::BareCr)?;
                    out.lit(b"\r\n");
                    *i = p + 1;
                    *start = *i;
                    self.new_line(false);
                }
            }
        }
        Ok(())
    }

    fn new_line(&mut self, strict: bool) {
        self.line_len = 0;
        self.state = State::LineStart { strict };
    }

    fn add_line_len(&mut self, n: usize) {
        self.line_len += n;
        if self.line_len > self.max_line {
            self.line_too_long = true;
        }
    }
}

/// Streaming dot-stuffer for the client side: doubles a leading period on each line, turns bare CR
/// and LF into CRLF, and writes the `CRLF.CRLF` end marker on [`DotStuffer::finish`].
#[derive(Clone, Debug)]
pub struct DotStuffer {
    line_start: bool,
    pending_cr: bool,
}

impl Default for DotStuffer {
    fn default() -> Self {
        DotStuffer {
            line_start: true,
            pending_cr: false,
        }
    }
}

impl DotStuffer {
    /// A stuffer at the start of a body.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes `chunk` stuffed into `out`.
    pub fn encode(&mut self, chunk: &[u8], out: &mut BytesMut) {
        out.reserve(chunk.len() + 8);
        let mut start = 0;
        let mut i = 0;
        while i < chunk.len() {
            let c = chunk[i];
            if self.pending_cr {
                self.pending_cr = false;
                out.extend_from_slice(b"\r\n");
                self.line_start = true;
                if c == b'\n' {
                    i += 1;
                    start = i;
                    continue;
                }
                start = i;
            }
            if self.line_start {
                self.line_start = false;
                if c == b'.' {
                    out.extend_from_slice(b".");
                }
            }
            match memchr::memchr2(b'\r', b'\n', &chunk[i..]) {
                None => {
                    i = chunk.len();
                }
                Some(off) => {
                    let p = i + off;
                    out.extend_from_slice(&chunk[start..p]);
                    if chunk[p] == b'\n' {
                        out.extend_from_slice(b"\r\n");
                        self.line_start = true;
                    } else {
                        self.pending_cr = true;
                    }
                    i = p + 1;
                    start = i;
                }
            }
        }
        out.extend_from_slice(&chunk[start..]);
    }

    /// Ends the body: completes the last line and writes `.CRLF`.
    pub fn finish(self, out: &mut BytesMut) {
        if self.pending_cr || !self.line_start {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
    }
}

/// The body with every bare CR or LF made CRLF (RFC 5321 §2.3.8), borrowed when it has none.
pub fn canonical_line_endings(body: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let mut i = 0;
    let clean = loop {
        match memchr::memchr2(b'\r', b'\n', &body[i..]) {
            None => break true,
            Some(off) => {
                let p = i + off;
                if body[p] == b'\n' || body.get(p + 1) != Some(&b'\n') {
                    break false;
                }
                i = p + 2;
            }
        }
    };
    if clean {
        return std::borrow::Cow::Borrowed(body);
    }
    let mut out = Vec::with_capacity(body.len() + 64);
    let mut i = 0;
    while i < body.len() {
        match (body[i], body.get(i + 1)) {
            (b'\r', Some(b'\n')) => {
                out.extend_from_slice(b"\r\n");
                i += 2;
            }
            (b'\r' | b'\n', _) => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Dot-stuffs a whole body into `out`, end marker included.
pub fn dot_stuff(body: &[u8], out: &mut BytesMut) {
    let mut s = DotStuffer::new();
    s.encode(body, out);
    s.finish(out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(policy: BareLineEnding, input: &[u8]) -> (Result<Option<usize>, DataError>, Vec<u8>) {
        let mut d = DataDecoder::new(policy, 1000);
        let mut out = BytesMut::new();
        match d.decode(input, &mut out) {
            Ok(r) => (Ok(r.end.then_some(r.consumed)), out.to_vec()),
            Err(e) => (Err(e), out.to_vec()),
        }
    }

    #[test]
    fn basic() {
        let (r, out) = run(BareLineEnding::Reject, b"a\r\n..b\r\n.\r\nMAIL");
        assert_eq!(r, Ok(Some(11)));
        assert_eq!(out, b"a\r\n.b\r\n");
        let (r, out) = run(BareLineEnding::Reject, b".\r\n");
        assert_eq!((r, out), (Ok(Some(3)), vec![]));
    }

    /// Content that needs no unstuffing comes out as a slice of the input (no copy); a
    /// dot-stuffed line splits it, and `decode_chunk` then copies.
    #[test]
    fn zero_copy() {
        let text = b"Subject: x\r\n\r\n".repeat(20);
        let mut input = BytesMut::from(&text[..]);
        input.extend_from_slice(b".\r\nQUIT\r\n");
        let start = input.as_ptr();
        let mut d = DataDecoder::new(BareLineEnding::Reject, 1000);
        let (r, content) = d.decode_chunk(&mut input).unwrap();
        assert!(r.end);
        assert_eq!(content, text);
        assert_eq!(content.as_ptr(), start, "a slice of the input, not a copy");
        assert_eq!(&input[..], b"QUIT\r\n");

        let mut input = BytesMut::from(&b"a\r\n..b\r\n.\r\n"[..]);
        let mut pieces = Vec::new();
        let mut d = DataDecoder::new(BareLineEnding::Reject, 1000);
        let r = d.decode_bytes(&mut input, |p| pieces.push(p)).unwrap();
        assert_eq!(r.consumed, 11);
        assert_eq!(pieces, [&b"a\r\n"[..], &b".b\r\n"[..]]);
        assert!(input.is_empty());
    }

    /// The smuggling matrix: every combination of line endings around the dot.
    #[test]
    fn smuggling_matrix() {
        let ends: [&[u8]; 4] = [b"\r\n", b"\n", b"\r", b""];
        for before in ends {
            for after in ends {
                let mut input = b"x".to_vec();
                input.extend_from_slice(before);
                input.push(b'.');
                input.extend_from_slice(after);
                input.extend_from_slice(b"MAIL FROM:<a@b>\r\n");
                let proper = before == b"\r\n" && after == b"\r\n";
                for policy in [BareLineEnding::Reject, BareLineEnding::Normalize] {
                    let (r, out) = run(policy, &input);
                    if proper {
                        assert_eq!(r, Ok(Some(6)), "{input:?}");
                        continue;
                    }
                    match policy {
                        BareLineEnding::Reject => {
                            let lone = |e: &[u8]| e == b"\n" || e == b"\r";
                            let bare = lone(before) || lone(after);
                            if bare {
                                assert!(r.is_err(), "{input:?} {r:?}");
                            } else {
                                assert_eq!(r, Ok(None), "{input:?}");
                            }
                        }
                        BareLineEnding::Normalize => {
                            assert_eq!(r, Ok(None), "{input:?} must not end the data");
                            assert!(!out.windows(2).any(|w| w == b"\r\r"), "{out:?}");
                        }
                    }
                }
            }
        }
        // And after normalisation the real end still works.
        let (r, out) = run(BareLineEnding::Normalize, b"a\n.\nb\r\n.\r\n");
        assert_eq!(r, Ok(Some(10)));
        assert_eq!(out, b"a\r\n.\r\nb\r\n");
        let (r, _) = run(BareLineEnding::Normalize, b"a\n.\r\n");
        assert_eq!(r, Ok(None));
    }

    #[test]
    fn long_lines_flagged() {
        let mut d = DataDecoder::new(BareLineEnding::Reject, 10);
        let mut out = BytesMut::new();
        d.decode(b"12345678\r\n", &mut out).unwrap();
        assert!(!d.line_too_long());
        d.decode(b"123456789\r\n", &mut out).unwrap();
        assert!(d.line_too_long());
    }

    type Split = (Result<Option<usize>, DataError>, Vec<u8>, bool);

    /// Byte-by-byte feeding never takes the block or line paths, so comparing it with whole
    /// feeding checks those paths against the byte-wise one, line-length flag included.
    fn decode_split(input: &[u8], cuts: &[usize], policy: BareLineEnding) -> Split {
        decode_split_max(input, cuts, policy, 14, arch())
    }

    fn cut_points(len: usize, cuts: &[usize]) -> Vec<usize> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (len + 1)).collect();
        points.sort_unstable();
        points.push(len);
        points
    }

    fn decode_split_max(
        input: &[u8],
        cuts: &[usize],
        policy: BareLineEnding,
        max_line: usize,
        arch: Arch,
    ) -> Split {
        let mut d = DataDecoder::new(policy, max_line);
        d.arch = arch;
        let mut out = BytesMut::new();
        let mut pos = 0;
        for p in cut_points(input.len(), cuts) {
            if p < pos {
                continue;
            }
            match d.decode(&input[pos..p], &mut out) {
                Err(e) => return (Err(e), out.to_vec(), d.line_too_long()),
                Ok(r) if r.end => {
                    return (Ok(Some(pos + r.consumed)), out.to_vec(), d.line_too_long());
                }
                Ok(r) => pos += r.consumed,
            }
        }
        (Ok(None), out.to_vec(), d.line_too_long())
    }

    /// The same through [`DataDecoder::decode_bytes`], input arriving into one buffer as a
    /// server's would. On error the content emitted before the failing call is returned.
    fn decode_bytes_split(
        input: &[u8],
        cuts: &[usize],
        policy: BareLineEnding,
        max_line: usize,
        arch: Arch,
    ) -> Split {
        let mut d = DataDecoder::new(policy, max_line);
        d.arch = arch;
        let mut out = Vec::new();
        let mut buf = BytesMut::new();
        let (mut fed, mut taken) = (0, 0);
        for p in cut_points(input.len(), cuts) {
            if p < fed {
                continue;
            }
            buf.extend_from_slice(&input[fed..p]);
            fed = p;
            let before = buf.len();
            let res = d.decode_bytes(&mut buf, |b| out.extend_from_slice(&b));
            match res {
                Err(e) => {
                    assert_eq!(buf.len(), before, "input left as it was on error");
                    return (Err(e), out, d.line_too_long());
                }
                Ok(r) => {
                    assert_eq!(before - buf.len(), r.consumed);
                    taken += r.consumed;
                    if r.end {
                        return (Ok(Some(taken)), out, d.line_too_long());
                    }
                }
            }
        }
        (Ok(None), out, d.line_too_long())
    }

    /// Every block path this processor can run: the pair scan of the baseline instruction set
    /// and the mask scans of AVX2 and AVX-512.
    #[cfg(feature = "simd")]
    fn arches() -> Vec<Arch> {
        let mut v = vec![SCALAR];
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(v3) = pulp::x86::V3::try_new() {
                v.push(pulp::Arch::V3(v3));
            }
            if let Some(v4) = pulp::x86::V4::try_new() {
                v.push(pulp::Arch::V4(v4));
            }
        }
        v
    }

    /// The pair scan of the baseline instruction set only.
    #[cfg(not(feature = "simd"))]
    fn arches() -> Vec<Arch> {
        vec![SCALAR]
    }

    /// The block path of the baseline instruction set.
    #[cfg(feature = "simd")]
    const SCALAR: Arch = pulp::Arch::Scalar;
    #[cfg(not(feature = "simd"))]
    const SCALAR: Arch = Arch;

    /// Tokens for inputs long enough to take the block path: text runs of many lengths, CRLF,
    /// bare CR and LF, dot-stuffed lines and end markers.
    fn long_input() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                8 => (1usize..150).prop_map(|n| vec![b'x'; n]),
                8 => Just(b"\r\n".to_vec()),
                2 => Just(b"\r\n..".to_vec()),
                1 => Just(b"\r\n.".to_vec()),
                1 => Just(b"\r\n.\r\n".to_vec()),
                1 => Just(b"\r".to_vec()),
                1 => Just(b"\n".to_vec()),
                1 => Just(b".".to_vec()),
                1 => (900usize..1100).prop_map(|n| vec![b'y'; n]),
            ],
            0..60,
        )
        .prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        #[test]
        fn stuff_then_unstuff(body in proptest::collection::vec(prop_oneof![Just(b'.'), Just(b'\r'), Just(b'\n'), Just(b'a')], 0..40)) {
            let mut wire = BytesMut::new();
            dot_stuff(&body, &mut wire);
            wire.extend_from_slice(b"NEXT");
            let (r, out) = run(BareLineEnding::Reject, &wire);
            prop_assert_eq!(r, Ok(Some(wire.len() - 4)));
            // The content is the body with line endings made CRLF and a final CRLF.
            let mut expect = BytesMut::new();
            let mut s = DotStuffer::new();
            s.encode(&body, &mut expect);
            let mut norm = Vec::new();
            let mut i = 0;
            while i < body.len() {
                match (body[i], body.get(i + 1)) {
                    (b'\r', Some(b'\n')) => { norm.extend_from_slice(b"\r\n"); i += 2; }
                    (b'\r' | b'\n', _) => { norm.extend_from_slice(b"\r\n"); i += 1; }
                    (c, _) => { norm.push(c); i += 1; }
                }
            }
            if !norm.is_empty() && !norm.ends_with(b"\r\n") { norm.extend_from_slice(b"\r\n"); }
            prop_assert_eq!(out, norm);
        }

        /// Stuffing a body in pieces, split anywhere (inside a CRLF, before a leading dot),
        /// gives the same octets as stuffing it whole.
        #[test]
        fn stuffing_in_pieces_is_stuffing_whole(body in proptest::collection::vec(prop_oneof![Just(b'.'), Just(b'\r'), Just(b'\n'), Just(b'a'), any::<u8>()], 0..200),
                                               cuts in proptest::collection::vec(any::<usize>(), 0..8)) {
            let mut whole = BytesMut::new();
            dot_stuff(&body, &mut whole);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (body.len() + 1)).collect();
            cuts.sort_unstable();
            let mut pieces = BytesMut::new();
            let mut s = DotStuffer::new();
            let mut from = 0;
            for cut in cuts.into_iter().chain([body.len()]) {
                s.encode(&body[from..cut], &mut pieces);
                from = cut;
            }
            s.finish(&mut pieces);
            prop_assert_eq!(pieces, whole);
        }

        #[test]
        fn split_anywhere(input in proptest::collection::vec(prop_oneof![1 => Just(&b"."[..]), 1 => Just(&b"\r"[..]), 1 => Just(&b"\n"[..]), 1 => Just(&b"\r\n"[..]), 1 => Just(&b"\r\n."[..]), 6 => Just(&b"a"[..])].prop_map(<[u8]>::to_vec), 0..80),
                          cuts in proptest::collection::vec(any::<usize>(), 0..6), normalize: bool) {
            let input: Vec<u8> = input.concat();
            let policy = if normalize { BareLineEnding::Normalize } else { BareLineEnding::Reject };
            let whole = decode_split(&input, &[], policy);
            prop_assert_eq!(decode_split(&input, &cuts, policy), whole.clone());
            let one_by_one: Vec<usize> = (0..input.len()).collect();
            prop_assert_eq!(decode_split(&input, &one_by_one, policy), whole);
        }

        /// The block path (taken on whole input with a limit of two blocks or more) against the
        /// octet-wise path (byte-by-byte feeding), and `decode_bytes` against `decode`.
        #[test]
        fn block_path_agrees(input in long_input(), cuts in proptest::collection::vec(any::<usize>(), 0..4),
                             normalize: bool, max_line in prop_oneof![Just(130usize), Just(200), Just(1000)]) {
            let policy = if normalize { BareLineEnding::Normalize } else { BareLineEnding::Reject };
            // Byte by byte: the octet-wise state machine only.
            let one_by_one: Vec<usize> = (0..input.len()).collect();
            let whole = decode_split_max(&input, &one_by_one, policy, max_line, SCALAR);
            for arch in arches() {
                prop_assert_eq!(&decode_split_max(&input, &[], policy, max_line, arch), &whole, "{:?}", arch);
                prop_assert_eq!(&decode_split_max(&input, &cuts, policy, max_line, arch), &whole, "{:?}", arch);
            }
            let zc = decode_bytes_split(&input, &cuts, policy, max_line, arch());
            match &whole.0 {
                // `decode` leaves content of the failing call in `out`, `decode_bytes` emits none.
                Err(_) => prop_assert_eq!(&zc.0, &whole.0),
                Ok(_) => prop_assert_eq!(&zc, &whole),
            }
            let zc_whole = decode_bytes_split(&input, &[], policy, max_line, arch());
            if whole.0.is_ok() {
                prop_assert_eq!(&zc_whole, &whole);
            } else {
                prop_assert_eq!(&zc_whole.0, &whole.0);
                prop_assert!(zc_whole.1.is_empty());
            }
        }
    }
}
