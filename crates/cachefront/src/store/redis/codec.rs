//! The binary encoding of an [`Entry`], shared by every remote store.

use std::{
    fmt,
    sync::Arc,
    time::{Duration, UNIX_EPOCH},
};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use crate::{entry::Entry, error::Error, key::CacheKey};

/// The format version written by this release.
const VERSION: u8 = 1;
const FLAG_LZ4: u8 = 1;
const FLAG_MUST_REVALIDATE: u8 = 1;
const FLAG_NO_CACHE: u8 = 2;
/// Set when `keep_stale` and `time_to_idle` follow the flags (absent in older values).
const FLAG_LIFETIMES: u8 = 4;
/// The most a compressed value may expand: an LZ4 block cannot expand more than 255 times (a
/// match costs at least one byte per 255 it repeats), so a value claiming more is corrupt or
/// crafted, and reading N stored bytes never allocates more than 256 N (nor more than the
/// codec's [`max_decoded_bytes`](EntryCodec::max_decoded_bytes)).
const LZ4_MAX_RATIO: usize = 256;

/// The most header fields a stored value may carry (an `http` header map holds 32,768).
const MAX_HEADERS: usize = 10_000;
/// The most tags a stored value may carry.
const MAX_TAGS: usize = 10_000;
/// The most `Vary` fields a stored value may carry.
const MAX_VARY: usize = 1_000;

/// Encodes entries to bytes and back: a compact, versioned binary format with LZ4 compression
/// above a size threshold.
///
/// Every remote store ([`RedisStore`](crate::store::RedisStore)) writes this format, so a value
/// written by one release or instance is read by another. Decoding untrusted or corrupt bytes
/// returns an error; it never panics.
///
/// ```
/// use cachefront::{CacheKey, store::EntryCodec};
///
/// let codec = EntryCodec::new().compress_above(Some(64));
/// let bytes = b"not an entry";
/// let error = codec.decode(bytes, &CacheKey::from_parts(["k"])).unwrap_err();
/// assert_eq!(error.kind(), cachefront::ErrorKind::Store);
/// ```
///
/// # Format (version 1)
///
/// ```text
/// version: u8 = 1
/// flags:   u8            bit 0: the payload is LZ4-compressed (block format)
/// [uncompressed length: varint]   only when compressed
/// payload:
///   digest            32 bytes   the key's SHA-256, checked against the key asked for
///   readable key      bytes
///   status            u16 LE
///   stored_at         varint seconds + varint nanoseconds since the Unix epoch
///   ttl, initial_age, stale_while_revalidate, stale_if_error   each varint secs + varint nanos
///   flags             u8         bit 0: must_revalidate, bit 1: no_cache
///   headers           varint count, then (name bytes, value bytes) pairs
///   tags              varint count, then bytes each
///   vary              varint count, then (name bytes, u8 present, [value bytes]) each
///   variants          varint count (0; older values may list 32-byte digests, skipped)
///   body              bytes (the rest of the payload after its length)
/// ```
///
/// `bytes` is a varint length followed by that many bytes. Decoding checks every length
/// against what is left, every header name and value, the status and the UTF-8 of strings: a
/// corrupt or truncated value is an [`Error`] of kind [`Store`](crate::ErrorKind::Store),
/// never a panic nor an unbounded allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct EntryCodec {
    compress_above: Option<usize>,
    max_decoded: usize,
}

impl Default for EntryCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl EntryCodec {
    /// The default bound on what one value may decompress to: 64 MiB, eight times the default
    /// body limit of a route.
    pub const DEFAULT_MAX_DECODED_BYTES: usize = 64 << 20;

    /// The default size above which [`EntryCodec`] compresses: 1 KiB.
    pub const DEFAULT_COMPRESS_ABOVE: usize = 1024;
}

impl EntryCodec {
    /// A codec compressing payloads above [`EntryCodec::DEFAULT_COMPRESS_ABOVE`] bytes.
    pub fn new() -> Self {
        Self {
            compress_above: Some(EntryCodec::DEFAULT_COMPRESS_ABOVE),
            max_decoded: EntryCodec::DEFAULT_MAX_DECODED_BYTES,
        }
    }

    /// The most bytes one compressed value may decompress to (default
    /// [`EntryCodec::DEFAULT_MAX_DECODED_BYTES`]); a value claiming more is refused as corrupt. Whatever
    /// this says, a value never decompresses to more than 256 times its stored size (LZ4's own
    /// limit).
    pub fn max_decoded_bytes(mut self, max: usize) -> Self {
        self.max_decoded = max;
        self
    }

    /// Compresses payloads larger than this many bytes with LZ4; `None` never compresses.
    /// A compressed payload is kept only when it is smaller than the original.
    pub fn compress_above(mut self, threshold: Option<usize>) -> Self {
        self.compress_above = threshold;
        self
    }

    /// The compression threshold.
    pub fn compression_threshold(&self) -> Option<usize> {
        self.compress_above
    }

    /// Encodes `entry`.
    pub fn encode(&self, entry: &Entry) -> Vec<u8> {
        let mut payload = Vec::with_capacity(entry.weight() + 16);
        write_payload(&mut payload, entry);
        if self
            .compress_above
            .is_some_and(|threshold| payload.len() > threshold)
        {
            let compressed = lz4_flex::block::compress(&payload);
            // Keep it only when it saves more than the length prefix costs, and expands no more
            // than a decoder accepts.
            if compressed.len() + 10 < payload.len()
                && payload.len() <= compressed.len().saturating_mul(LZ4_MAX_RATIO)
            {
                let mut out = Vec::with_capacity(compressed.len() + 12);
                out.push(VERSION);
                out.push(FLAG_LZ4);
                write_varint(&mut out, payload.len() as u64);
                out.extend_from_slice(&compressed);
                return out;
            }
        }
        let mut out = Vec::with_capacity(payload.len() + 2);
        out.push(VERSION);
        out.push(0);
        out.extend_from_slice(&payload);
        out
    }

    /// Decodes an entry stored under `key`; the stored digest must be `key`'s.
    ///
    /// Accepts anything that converts to [`Bytes`] without a copy (`Vec<u8>`, `Bytes`); the
    /// decoded body shares the buffer when the value is not compressed.
    pub fn decode(&self, bytes: impl Into<DecodeInput>, key: &CacheKey) -> Result<Entry, Error> {
        decode(bytes.into().0, key, self.max_decoded)
            .map_err(|error| Error::store("cannot decode a stored entry", error))
    }
}

/// The input of [`EntryCodec::decode`]: owned bytes (`Vec<u8>`, [`Bytes`]) or a borrowed slice.
#[derive(Debug)]
pub struct DecodeInput(Bytes);

impl From<Bytes> for DecodeInput {
    fn from(bytes: Bytes) -> Self {
        Self(bytes)
    }
}

impl From<Vec<u8>> for DecodeInput {
    fn from(bytes: Vec<u8>) -> Self {
        Self(Bytes::from(bytes))
    }
}

impl From<&[u8]> for DecodeInput {
    fn from(bytes: &[u8]) -> Self {
        Self(Bytes::copy_from_slice(bytes))
    }
}

impl<const N: usize> From<&[u8; N]> for DecodeInput {
    fn from(bytes: &[u8; N]) -> Self {
        Self(Bytes::copy_from_slice(bytes))
    }
}

/// Why bytes could not be decoded.
#[derive(Debug)]
struct DecodeError(&'static str);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for DecodeError {}

fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn write_duration(out: &mut Vec<u8>, duration: Duration) {
    write_varint(out, duration.as_secs());
    write_varint(out, u64::from(duration.subsec_nanos()));
}

fn write_payload(out: &mut Vec<u8>, entry: &Entry) {
    out.extend_from_slice(entry.key.digest().as_bytes());
    write_bytes(out, entry.key.readable().as_bytes());
    out.extend_from_slice(&entry.status.as_u16().to_le_bytes());
    write_duration(
        out,
        entry.stored_at.duration_since(UNIX_EPOCH).unwrap_or_default(),
    );
    write_duration(out, entry.ttl);
    write_duration(out, entry.initial_age);
    write_duration(out, entry.stale_while_revalidate);
    write_duration(out, entry.stale_if_error);
    let mut flags = 0;
    if entry.must_revalidate {
        flags |= FLAG_MUST_REVALIDATE;
    }
    if entry.no_cache {
        flags |= FLAG_NO_CACHE;
    }
    flags |= FLAG_LIFETIMES;
    out.push(flags);
    write_duration(out, entry.keep_stale);
    match entry.time_to_idle {
        Some(idle) => {
            out.push(1);
            write_duration(out, idle);
        }
        None => out.push(0),
    }
    write_varint(out, entry.headers.len() as u64);
    for (name, value) in &entry.headers {
        write_bytes(out, name.as_str().as_bytes());
        write_bytes(out, value.as_bytes());
    }
    write_varint(out, entry.tags.len() as u64);
    for tag in &entry.tags {
        write_bytes(out, tag.as_bytes());
    }
    write_varint(out, entry.vary.len() as u64);
    for (name, value) in &entry.vary {
        write_bytes(out, name.as_str().as_bytes());
        match value {
            Some(value) => {
                out.push(1);
                write_bytes(out, value);
            }
            None => out.push(0),
        }
    }
    // A list of variant digests that the first release wrote; always empty now.
    write_varint(out, 0);
    write_bytes(out, &entry.body);
}

/// Encodes a list of tags on its own (the tag index of remote stores keeps it beside the value).
pub(crate) fn encode_tags(tags: &[Arc<str>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(tags.iter().map(|t| t.len() + 2).sum::<usize>() + 2);
    write_varint(&mut out, tags.len() as u64);
    for tag in tags {
        write_bytes(&mut out, tag.as_bytes());
    }
    out
}

/// Decodes what [`encode_tags`] wrote.
pub(crate) fn decode_tags(bytes: &[u8]) -> Result<Vec<String>, Error> {
    let bytes = Bytes::copy_from_slice(bytes);
    let mut reader = Reader { bytes: &bytes, at: 0 };
    let decode = |reader: &mut Reader<'_>| -> Result<Vec<String>, DecodeError> {
        let count = reader.bounded_count(MAX_TAGS, "too many tags")?;
        let mut tags = Vec::with_capacity(count.min(64));
        for _ in 0..count {
            tags.push(reader.string()?.to_owned());
        }
        reader.end()?;
        Ok(tags)
    };
    decode(&mut reader).map_err(|error| Error::store("cannot decode a stored tag list", error))
}

/// A bounds-checked cursor over the payload.
struct Reader<'a> {
    bytes: &'a Bytes,
    at: usize,
}

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn take(&mut self, len: usize) -> Result<&[u8], DecodeError> {
        if len > self.remaining() {
            return Err(DecodeError("truncated value"));
        }
        let slice = &self.bytes[self.at..self.at + len];
        self.at += len;
        Ok(slice)
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(DecodeError("varint overflows 64 bits"));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError("varint overflows 64 bits"))
    }

    fn len(&mut self) -> Result<usize, DecodeError> {
        let len = usize::try_from(self.varint()?).map_err(|_| DecodeError("length overflows"))?;
        if len > self.remaining() {
            return Err(DecodeError("length past the end of the value"));
        }
        Ok(len)
    }

    /// A count of items that each take at least one byte: never more than what is left, so a
    /// corrupt count cannot make us allocate.
    fn count(&mut self) -> Result<usize, DecodeError> {
        self.len()
    }

    /// A count with an upper bound: an item that costs one byte in the value costs far more in
    /// memory, so a count past what any real entry has is corrupt.
    fn bounded_count(&mut self, max: usize, what: &'static str) -> Result<usize, DecodeError> {
        let count = self.count()?;
        if count > max {
            return Err(DecodeError(what));
        }
        Ok(count)
    }

    fn bytes(&mut self) -> Result<&[u8], DecodeError> {
        let len = self.len()?;
        self.take(len)
    }

    fn shared_bytes(&mut self) -> Result<Bytes, DecodeError> {
        let len = self.len()?;
        let start = self.at;
        self.take(len)?;
        Ok(self.bytes.slice(start..start + len))
    }

    fn string(&mut self) -> Result<&str, DecodeError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| DecodeError("a string is not UTF-8"))
    }

    fn duration(&mut self) -> Result<Duration, DecodeError> {
        let secs = self.varint()?;
        let nanos = u32::try_from(self.varint()?)
            .ok()
            .filter(|n| *n < 1_000_000_000)
            .ok_or(DecodeError("nanoseconds out of range"))?;
        Ok(Duration::new(secs, nanos))
    }

    fn digest(&mut self) -> Result<[u8; 32], DecodeError> {
        let mut digest = [0; 32];
        digest.copy_from_slice(self.take(32)?);
        Ok(digest)
    }

    fn end(&self) -> Result<(), DecodeError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(DecodeError("trailing bytes after the value"))
        }
    }
}

fn decode(bytes: Bytes, key: &CacheKey, max_decoded: usize) -> Result<Entry, DecodeError> {
    let mut head = Reader { bytes: &bytes, at: 0 };
    let version = head.byte()?;
    if version != VERSION {
        return Err(DecodeError("unknown format version"));
    }
    let flags = head.byte()?;
    let payload = match flags {
        0 => bytes.slice(head.at..),
        FLAG_LZ4 => {
            let len = usize::try_from(head.varint()?).map_err(|_| DecodeError("length overflows"))?;
            let compressed = &bytes[head.at..];
            if len > max_decoded || len > compressed.len().saturating_mul(LZ4_MAX_RATIO) {
                return Err(DecodeError("implausible uncompressed length"));
            }
            let payload =
                lz4_flex::block::decompress(compressed, len).map_err(|_| DecodeError("corrupt LZ4 data"))?;
            if payload.len() != len {
                return Err(DecodeError("uncompressed length does not match"));
            }
            Bytes::from(payload)
        }
        _ => return Err(DecodeError("unknown flags")),
    };
    let mut reader = Reader {
        bytes: &payload,
        at: 0,
    };
    if reader.digest()? != *key.digest().as_bytes() {
        return Err(DecodeError("the value belongs to another key"));
    }
    // The stored readable form: the key looked up may carry its digest only.
    let readable = reader.string()?.to_owned();
    let status = u16::from_le_bytes([reader.byte()?, reader.byte()?]);
    let status = StatusCode::from_u16(status).map_err(|_| DecodeError("invalid status"))?;
    let stored_at = UNIX_EPOCH
        .checked_add(reader.duration()?)
        .ok_or(DecodeError("stored_at out of range"))?;
    let ttl = reader.duration()?;
    let initial_age = reader.duration()?;
    let stale_while_revalidate = reader.duration()?;
    let stale_if_error = reader.duration()?;
    let flags = reader.byte()?;
    if flags & !(FLAG_MUST_REVALIDATE | FLAG_NO_CACHE | FLAG_LIFETIMES) != 0 {
        return Err(DecodeError("unknown entry flags"));
    }
    let (keep_stale, time_to_idle) = if flags & FLAG_LIFETIMES != 0 {
        let keep_stale = reader.duration()?;
        let time_to_idle = match reader.byte()? {
            0 => None,
            1 => Some(reader.duration()?),
            _ => return Err(DecodeError("invalid time-to-idle marker")),
        };
        (keep_stale, time_to_idle)
    } else {
        (Duration::ZERO, None)
    };
    // An `http` header map holds at most 32,768 fields; no response this cache stores has
    // anywhere near that many.
    let count = reader.bounded_count(MAX_HEADERS, "too many headers")?;
    let mut headers = HeaderMap::with_capacity(count.min(64));
    for _ in 0..count {
        let name = HeaderName::from_bytes(reader.bytes()?).map_err(|_| DecodeError("invalid header name"))?;
        let value =
            HeaderValue::from_bytes(reader.bytes()?).map_err(|_| DecodeError("invalid header value"))?;
        headers.append(name, value);
    }
    let count = reader.bounded_count(MAX_TAGS, "too many tags")?;
    let mut tags = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        tags.push(Arc::<str>::from(reader.string()?));
    }
    let count = reader.bounded_count(MAX_VARY, "too many Vary fields")?;
    let mut vary = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let name = HeaderName::from_bytes(reader.bytes()?).map_err(|_| DecodeError("invalid vary name"))?;
        let value = match reader.byte()? {
            0 => None,
            1 => Some(reader.bytes()?.to_vec()),
            _ => return Err(DecodeError("invalid vary value marker")),
        };
        vary.push((name, value));
    }
    let count = reader.count()?;
    for _ in 0..count {
        // Variant digests written by the first release: checked for length, no longer used.
        reader.digest()?;
    }
    let body = reader.shared_bytes()?;
    reader.end()?;
    Ok(Entry {
        key: CacheKey::with_readable(*key.digest(), readable),
        status,
        headers,
        body,
        stored_at,
        ttl,
        initial_age,
        stale_while_revalidate,
        stale_if_error,
        must_revalidate: flags & FLAG_MUST_REVALIDATE != 0,
        no_cache: flags & FLAG_NO_CACHE != 0,
        keep_stale,
        time_to_idle,
        tags,
        vary,
        content_length: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header;

    fn entry(body: &[u8]) -> Entry {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        headers.append("x-many", HeaderValue::from_static("1"));
        headers.append("x-many", HeaderValue::from_static("2"));
        Entry {
            key: CacheKey::from_parts(["GET example.com/a"]),
            status: StatusCode::CREATED,
            headers,
            body: Bytes::copy_from_slice(body),
            stored_at: UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789),
            ttl: Duration::from_secs(60),
            initial_age: Duration::from_millis(1500),
            stale_while_revalidate: Duration::from_secs(5),
            stale_if_error: Duration::from_secs(300),
            must_revalidate: true,
            no_cache: false,
            keep_stale: Duration::from_secs(3600),
            time_to_idle: Some(Duration::from_secs(90)),
            tags: vec![Arc::from("product:42"), Arc::from("")],
            vary: vec![
                (header::ACCEPT_LANGUAGE, Some(b"en".to_vec())),
                (header::ACCEPT_ENCODING, None),
            ],
            content_length: Default::default(),
        }
    }

    fn assert_same(a: &Entry, b: &Entry) {
        assert_eq!(a.key, b.key);
        assert_eq!(a.status, b.status);
        assert_eq!(a.headers, b.headers);
        assert_eq!(a.body, b.body);
        assert_eq!(a.stored_at, b.stored_at);
        assert_eq!(a.ttl, b.ttl);
        assert_eq!(a.initial_age, b.initial_age);
        assert_eq!(a.stale_while_revalidate, b.stale_while_revalidate);
        assert_eq!(a.stale_if_error, b.stale_if_error);
        assert_eq!(a.must_revalidate, b.must_revalidate);
        assert_eq!(a.no_cache, b.no_cache);
        assert_eq!(a.keep_stale, b.keep_stale);
        assert_eq!(a.time_to_idle, b.time_to_idle);
        assert_eq!(a.tags, b.tags);
        assert_eq!(a.vary, b.vary);
    }

    #[test]
    fn round_trips_uncompressed() {
        let codec = EntryCodec::new().compress_above(None);
        let original = entry(b"hello");
        let bytes = codec.encode(&original);
        assert_eq!(bytes[..2], [VERSION, 0]);
        let decoded = codec.decode(bytes, &original.key).unwrap();
        assert_same(&original, &decoded);
    }

    #[test]
    fn compresses_above_the_threshold_only() {
        let codec = EntryCodec::new().compress_above(Some(256));
        let small = entry(b"tiny");
        assert_eq!(codec.encode(&small)[1], 0);
        let large = entry(&b"abcdefgh".repeat(4096));
        let bytes = codec.encode(&large);
        assert_eq!(bytes[1], FLAG_LZ4);
        assert!(bytes.len() < large.body.len() / 4, "{} bytes", bytes.len());
        assert_same(&large, &codec.decode(bytes, &large.key).unwrap());
    }

    #[test]
    fn incompressible_payloads_stay_plain() {
        // A xorshift stream does not compress.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let body: Vec<u8> = (0..8192)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let original = entry(&body);
        let bytes = EntryCodec::new().encode(&original);
        assert_eq!(bytes[1], 0);
        assert_same(
            &original,
            &EntryCodec::new().decode(bytes, &original.key).unwrap(),
        );
    }

    #[test]
    fn rejects_another_keys_value() {
        let codec = EntryCodec::new();
        let bytes = codec.encode(&entry(b"x"));
        let error = codec.decode(bytes, &CacheKey::from_parts(["other"])).unwrap_err();
        assert!(error.report().to_string().contains("another key"), "{error:?}");
    }

    #[test]
    fn every_truncation_and_byte_flip_is_an_error_or_a_valid_entry() {
        for codec in [
            EntryCodec::new().compress_above(None),
            EntryCodec::new().compress_above(Some(0)),
        ] {
            let original = entry(&b"body ".repeat(100));
            let bytes = codec.encode(&original);
            for len in 0..bytes.len() {
                assert!(
                    codec.decode(&bytes[..len], &original.key).is_err(),
                    "truncated to {len}"
                );
            }
            for at in 0..bytes.len() {
                for flip in [0x01, 0x80, 0xff] {
                    let mut corrupt = bytes.clone();
                    corrupt[at] ^= flip;
                    // Must not panic; a flip inside the body may still decode.
                    let _ = codec.decode(corrupt, &original.key);
                }
            }
        }
    }

    #[test]
    fn hostile_lengths_do_not_allocate() {
        let key = CacheKey::from_parts(["k"]);
        let codec = EntryCodec::new();
        // Claims a 2^40-byte LZ4 payload.
        let mut bytes = vec![VERSION, FLAG_LZ4];
        write_varint(&mut bytes, 1 << 40);
        bytes.extend_from_slice(&[0; 8]);
        assert!(codec.decode(bytes, &key).is_err());
        // Claims 2^60 headers.
        let mut bytes = vec![VERSION, 0];
        bytes.extend_from_slice(key.digest().as_bytes());
        write_bytes(&mut bytes, b"k");
        bytes.extend_from_slice(&200u16.to_le_bytes());
        for _ in 0..5 {
            write_duration(&mut bytes, Duration::ZERO);
        }
        bytes.push(0);
        write_varint(&mut bytes, 1 << 60);
        assert!(codec.decode(bytes, &key).is_err());
        // A varint that never ends.
        assert!(
            codec
                .decode(
                    &[
                        VERSION, FLAG_LZ4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
                    ],
                    &key
                )
                .is_err()
        );
        assert!(codec.decode(&[2, 0], &key).is_err());
    }

    #[test]
    fn tag_lists_round_trip() {
        let tags = vec![Arc::from("a"), Arc::from("b c"), Arc::from("")];
        let decoded = decode_tags(&encode_tags(&tags)).unwrap();
        assert_eq!(decoded, ["a", "b c", ""]);
        assert!(decode_tags(&[5, 1]).is_err());
    }

    /// A value as an attacker with write access to Redis would craft it: a real entry, LZ4
    /// compressed, whatever its ratio.
    fn crafted(entry: &Entry) -> Vec<u8> {
        let mut payload = Vec::new();
        write_payload(&mut payload, entry);
        let mut bytes = vec![VERSION, FLAG_LZ4];
        write_varint(&mut bytes, payload.len() as u64);
        bytes.extend_from_slice(&lz4_flex::block::compress(&payload));
        bytes
    }

    #[test]
    fn decompression_is_capped_relative_to_the_stored_size() {
        // A value that claims to expand more than LZ4 can (255 times) is crafted: refused
        // before anything of that size is allocated, whatever the codec's maximum.
        let small = entry(b"tiny body");
        let mut payload = Vec::new();
        write_payload(&mut payload, &small);
        let compressed = lz4_flex::block::compress(&payload);
        let mut bytes = vec![VERSION, FLAG_LZ4];
        write_varint(&mut bytes, (compressed.len() * 300) as u64);
        bytes.extend_from_slice(&compressed);
        let codec = EntryCodec::new().max_decoded_bytes(usize::MAX);
        let error = codec.decode(bytes, &small.key).unwrap_err();
        assert!(format!("{error:?}").contains("implausible"), "{error:?}");
        // What the codec writes itself always reads back compressed, however repetitive:
        // 16 MiB of zeros shrink about 250 times.
        let zeros = entry(&vec![0; 16 << 20]);
        let written = codec.encode(&zeros);
        assert_eq!(written[1], FLAG_LZ4);
        assert!(written.len() * 200 < 16 << 20, "{}", written.len());
        assert_same(&zeros, &codec.decode(written, &zeros.key).unwrap());
    }

    #[test]
    fn decompression_is_capped_at_the_codec_maximum() {
        let large = entry(
            &(0..2u32 << 20)
                .map(|i| (i % 251) as u8 ^ (i / 7) as u8)
                .collect::<Vec<_>>(),
        );
        let bytes = crafted(&large);
        assert!(EntryCodec::new().decode(bytes.clone(), &large.key).is_ok());
        let small = EntryCodec::new().max_decoded_bytes(1 << 20);
        assert!(small.decode(bytes, &large.key).is_err());
    }
}
