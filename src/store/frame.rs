//! Byte-level framing: the segment header, the record frame, and the scanner
//! that walks a segment image and classifies how it ends.
//!
//! The scanner works on the whole file image (`data[0]` is file offset 0), so
//! offsets it reports are file offsets.

use std::ops::Range;

/// Magic bytes at the start of every WAL segment.
pub const WAL_MAGIC: [u8; 8] = *b"IDDWAL\0\x01";
/// On-disk format version of WAL segments written by this build.
pub const WAL_VERSION: u32 = 1;
/// Segment header: magic (8) + version u32 (4) + first LSN u64 (8) + CRC32C of those 20 bytes (4).
pub const SEGMENT_HEADER_LEN: usize = 24;
/// Record header: length u32 + CRC32C u32 + LSN u64.
pub const RECORD_HEADER_LEN: usize = 16;
/// Largest payload accepted by `append` and by the decoder. A length field above
/// this is treated as damage and never causes an allocation.
pub const MAX_RECORD_BYTES: usize = 16 << 20;
/// Granularity used to decide whether a bad record "looks unwritten": a power
/// cut leaves whole sectors unwritten (reading back as zeros).
pub(crate) const SECTOR: usize = 512;

/// CRC32C over the LSN (little endian) followed by the payload.
pub(crate) fn record_crc(lsn: u64, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&lsn.to_le_bytes()), payload)
}

/// Total frame size for a payload of `payload_len` bytes.
pub(crate) fn frame_len(payload_len: usize) -> usize {
    RECORD_HEADER_LEN + payload_len
}

/// Appends one record frame to `buf`. The caller has checked the length limit.
pub(crate) fn encode_record(buf: &mut Vec<u8>, lsn: u64, payload: &[u8]) {
    // Length fits u32: MAX_RECORD_BYTES < u32::MAX and the caller checks it.
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&record_crc(lsn, payload).to_le_bytes());
    buf.extend_from_slice(&lsn.to_le_bytes());
    buf.extend_from_slice(payload);
}

/// Encodes a segment header for a segment whose first record has `first_lsn`.
pub(crate) fn encode_segment_header(first_lsn: u64) -> [u8; SEGMENT_HEADER_LEN] {
    encode_segment_header_version(first_lsn, WAL_VERSION)
}

pub(crate) fn encode_segment_header_version(
    first_lsn: u64,
    version: u32,
) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[0..8].copy_from_slice(&WAL_MAGIC);
    h[8..12].copy_from_slice(&version.to_le_bytes());
    h[12..20].copy_from_slice(&first_lsn.to_le_bytes());
    let crc = crc32c::crc32c(&h[0..20]);
    h[20..24].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Decodes a segment header, returning the first LSN or a reason.
pub(crate) fn decode_segment_header(data: &[u8]) -> Result<u64, String> {
    if data.len() < SEGMENT_HEADER_LEN {
        return Err(format!(
            "file has {} bytes, shorter than the {SEGMENT_HEADER_LEN}-byte segment header",
            data.len()
        ));
    }
    if data[0..8] != WAL_MAGIC {
        return Err(format!(
            "wrong magic {:02x?} (expected {:02x?})",
            &data[0..8],
            WAL_MAGIC
        ));
    }
    let stored = u32_at(data, 20);
    if crc32c::crc32c(&data[0..20]) != stored {
        return Err("header checksum mismatch".to_string());
    }
    let version = u32_at(data, 8);
    if version != WAL_VERSION {
        return Err(format!(
            "unsupported format version {version} (this build reads version {WAL_VERSION})"
        ));
    }
    Ok(u64_at(data, 12))
}

pub(crate) fn u32_at(data: &[u8], off: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&data[off..off + 4]);
    u32::from_le_bytes(b)
}

pub(crate) fn u64_at(data: &[u8], off: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&data[off..off + 8]);
    u64::from_le_bytes(b)
}

/// One valid record found by [`scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordSpan {
    /// The record's LSN.
    pub lsn: u64,
    /// File offset of the record header.
    pub offset: usize,
    /// Payload byte range in the file image.
    pub payload: Range<usize>,
}

/// How the valid prefix of a segment ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScanEnd {
    /// The last valid record ends exactly at end of file.
    Clean,
    /// Only zero bytes follow the last valid record (preallocated space).
    ZeroTail {
        /// Where the zeros start.
        offset: usize,
    },
    /// Trailing bytes that look like an incomplete write and are followed by no
    /// valid record: a torn tail (truncatable in the last segment).
    Torn {
        /// Start of the bad bytes.
        offset: usize,
        /// Why the bytes are not a valid record.
        reason: String,
    },
    /// A bad record that is not a torn tail: corruption.
    Corrupt {
        /// Start of the bad record.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Result of scanning one segment image.
#[derive(Debug, Clone)]
pub(crate) struct Scan {
    /// Valid records, in order, with contiguous LSNs starting at the header LSN.
    pub records: Vec<RecordSpan>,
    /// File offset just after the last valid record.
    pub valid_end: usize,
    /// How the segment ends after `valid_end`.
    pub end: ScanEnd,
    /// Offset just after the last non-zero byte of the file (bytes worth saving end here).
    pub data_end: usize,
}

enum Bad {
    /// Fewer than a record header's bytes before EOF.
    ShortHeader,
    /// Length field above the maximum.
    TooLong(usize),
    /// Frame reaches past end of file.
    PastEof(usize),
    /// CRC mismatch of a complete frame.
    Crc(usize),
    /// CRC is fine but the LSN is not the expected one.
    Lsn(u64),
}

/// Tries to decode the record at `off`. `Ok((lsn, payload range, next offset))`.
fn try_record(data: &[u8], off: usize, expected: u64) -> Result<(u64, Range<usize>, usize), Bad> {
    if data.len() - off < RECORD_HEADER_LEN {
        return Err(Bad::ShortHeader);
    }
    let len = u32_at(data, off) as usize;
    let crc = u32_at(data, off + 4);
    let lsn = u64_at(data, off + 8);
    let end = off + RECORD_HEADER_LEN + len;
    if len > MAX_RECORD_BYTES {
        return Err(Bad::TooLong(end));
    }
    if end > data.len() {
        return Err(Bad::PastEof(end));
    }
    // The LSN bytes and the payload are contiguous: CRC them in one pass.
    if crc32c::crc32c(&data[off + 8..end]) != crc {
        return Err(Bad::Crc(end));
    }
    if lsn != expected {
        return Err(Bad::Lsn(lsn));
    }
    Ok((lsn, off + RECORD_HEADER_LEN..end, end))
}

/// True if the bytes `from..to` overlap an *unwritten hole*: a sector (512-byte
/// aligned) that is zero from `max(from, sector start)` to the sector's end.
/// That is what a sector still holding its pre-write contents looks like (the
/// synced bytes before `from`, zeros after). Only sectors starting before
/// `to` are examined; callers pass `to <= data_end` so the zero tail never counts.
fn has_unwritten_sector(data: &[u8], from: usize, to: usize) -> bool {
    let mut p = from;
    while p < to {
        let sector_end = ((p / SECTOR) + 1) * SECTOR;
        if data[p..sector_end.min(data.len())].iter().all(|&b| b == 0) {
            return true;
        }
        p = sector_end;
    }
    false
}

/// Looks for any valid record (CRC-correct, plausible length, LSN >= `min_lsn`)
/// starting at any byte offset in `from..data_end`. Returns its offset and LSN.
fn find_valid_after(
    data: &[u8],
    from: usize,
    data_end: usize,
    min_lsn: u64,
) -> Option<(usize, u64)> {
    let mut p = from;
    while p < data_end && data.len() - p >= RECORD_HEADER_LEN {
        let lsn = u64_at(data, p + 8);
        // Each record takes at least RECORD_HEADER_LEN bytes, which bounds how far
        // the LSN can have advanced; this cheap filter rejects almost every offset.
        let max_lsn = min_lsn.saturating_add(((data_end - p) / RECORD_HEADER_LEN) as u64 + 1);
        if lsn >= min_lsn && lsn <= max_lsn {
            let len = u32_at(data, p) as usize;
            let end = p + RECORD_HEADER_LEN + len;
            if len <= MAX_RECORD_BYTES
                && end <= data.len()
                && crc32c::crc32c(&data[p + 8..end]) == u32_at(data, p + 4)
            {
                return Some((p, lsn));
            }
        }
        p += 1;
    }
    None
}

/// Scans records from `start` (just after the segment header) expecting LSNs
/// `first_lsn, first_lsn + 1, ...`, and classifies the end. See the module
/// documentation of `store` for the rules.
pub(crate) fn scan(data: &[u8], start: usize, first_lsn: u64) -> Scan {
    let data_end = data.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let mut records = Vec::new();
    let mut off = start.min(data.len());
    let mut expected = first_lsn;
    loop {
        if off == data.len() {
            return Scan {
                records,
                valid_end: off,
                end: ScanEnd::Clean,
                data_end,
            };
        }
        if off >= data_end {
            return Scan {
                records,
                valid_end: off,
                end: ScanEnd::ZeroTail { offset: off },
                data_end,
            };
        }
        let bad = match try_record(data, off, expected) {
            Ok((lsn, payload, next)) => {
                records.push(RecordSpan {
                    lsn,
                    offset: off,
                    payload,
                });
                off = next;
                expected += 1;
                continue;
            }
            Err(bad) => bad,
        };
        let end = classify(data, off, data_end, expected, bad);
        return Scan {
            records,
            valid_end: off,
            end,
            data_end,
        };
    }
}

fn classify(data: &[u8], off: usize, data_end: usize, expected: u64, bad: Bad) -> ScanEnd {
    let (claimed_end, reason) = match bad {
        Bad::Lsn(lsn) => {
            return ScanEnd::Corrupt {
                offset: off,
                reason: format!("record has LSN {lsn}, expected {expected}"),
            };
        }
        Bad::ShortHeader => (
            None,
            format!(
                "incomplete record header ({} bytes before end of file)",
                data.len() - off
            ),
        ),
        Bad::TooLong(end) => (
            Some(end),
            format!(
                "record length {} exceeds the maximum {MAX_RECORD_BYTES}",
                end - off - RECORD_HEADER_LEN
            ),
        ),
        Bad::PastEof(end) => (
            Some(end),
            format!(
                "record of {} bytes runs past end of file ({} bytes present)",
                end - off,
                data.len() - off
            ),
        ),
        Bad::Crc(_) if data[off..off + RECORD_HEADER_LEN].iter().all(|&b| b == 0) => (
            None,
            "zero-filled record header followed by non-zero bytes".to_string(),
        ),
        Bad::Crc(end) => (
            Some(end),
            format!("CRC mismatch in record of {} bytes", end - off),
        ),
    };
    // Rule 1: an unwritten hole inside the frame (before the last non-zero byte).
    // Whatever follows it was never covered by a completed sync (a sync would have
    // written the hole first), so the log ends here even if valid-looking records follow.
    let frame_end = claimed_end
        .unwrap_or(off + RECORD_HEADER_LEN)
        .min(data.len());
    if has_unwritten_sector(data, off, frame_end.min(data_end)) {
        return ScanEnd::Torn {
            offset: off,
            reason: format!("{reason}; unwritten (zero) sector inside the record"),
        };
    }
    // Rule 2: the frame is cut short (by end of file, or it runs into the zero tail)
    // and nothing valid follows. Rule 3: anything else is corruption.
    let cut_short = claimed_end.is_none_or(|end| end > data_end);
    match find_valid_after(data, off + 1, data_end, expected) {
        Some((at, lsn)) => ScanEnd::Corrupt {
            offset: off,
            reason: format!("{reason}; a valid record (LSN {lsn}) follows at offset {at}"),
        },
        None if cut_short => ScanEnd::Torn {
            offset: off,
            reason,
        },
        None => ScanEnd::Corrupt {
            offset: off,
            reason: format!("{reason} (complete final record, not an incomplete write)"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(n: u64, payload_len: usize) -> Vec<u8> {
        let mut v = encode_segment_header(1).to_vec();
        for lsn in 1..=n {
            let p: Vec<u8> = (0..payload_len)
                .map(|i| (i as u8 % 250) + lsn as u8 % 5 + 1)
                .collect();
            encode_record(&mut v, lsn, &p);
        }
        v
    }

    #[test]
    fn header_round_trip_and_rejections() {
        let h = encode_segment_header(42);
        assert_eq!(decode_segment_header(&h), Ok(42));
        let mut bad = h;
        bad[0] ^= 1;
        assert!(decode_segment_header(&bad).unwrap_err().contains("magic"));
        let v2 = encode_segment_header_version(42, 2);
        assert!(
            decode_segment_header(&v2)
                .unwrap_err()
                .contains("version 2")
        );
        let mut flipped = h;
        flipped[13] ^= 0x10;
        assert!(
            decode_segment_header(&flipped)
                .unwrap_err()
                .contains("checksum")
        );
        assert!(
            decode_segment_header(&h[..10])
                .unwrap_err()
                .contains("shorter")
        );
    }

    #[test]
    fn scan_round_trip() {
        let img = image(20, 37);
        let s = scan(&img, SEGMENT_HEADER_LEN, 1);
        assert_eq!(s.records.len(), 20);
        assert_eq!(s.end, ScanEnd::Clean);
        assert_eq!(s.valid_end, img.len());
        for (i, r) in s.records.iter().enumerate() {
            assert_eq!(r.lsn, i as u64 + 1);
            assert_eq!(r.payload.len(), 37);
        }
    }

    #[test]
    fn empty_payload_is_valid_and_not_zero_tail() {
        let mut img = encode_segment_header(7).to_vec();
        encode_record(&mut img, 7, b"");
        encode_record(&mut img, 8, b"x");
        let s = scan(&img, SEGMENT_HEADER_LEN, 7);
        assert_eq!(s.records.len(), 2);
        assert_eq!(s.end, ScanEnd::Clean);
    }

    #[test]
    fn zero_tail_is_clean_end() {
        let mut img = image(5, 100);
        let valid = img.len();
        img.resize(valid + 10_000, 0);
        let s = scan(&img, SEGMENT_HEADER_LEN, 1);
        assert_eq!(s.records.len(), 5);
        assert_eq!(s.end, ScanEnd::ZeroTail { offset: valid });
    }

    #[test]
    fn partial_write_into_zero_tail_is_torn() {
        // A record whose second half never reached the preallocated space.
        let full = image(6, 1500);
        let cut = full.len() - 800;
        let mut img = full[..cut].to_vec();
        img.resize(full.len() + 4096, 0);
        let s = scan(&img, SEGMENT_HEADER_LEN, 1);
        assert_eq!(s.records.len(), 5);
        assert!(matches!(s.end, ScanEnd::Torn { .. }), "{:?}", s.end);
        assert_eq!(s.data_end, cut);
    }

    #[test]
    fn wrong_lsn_with_valid_crc_is_corrupt() {
        let mut img = encode_segment_header(1).to_vec();
        encode_record(&mut img, 1, b"a");
        encode_record(&mut img, 3, b"b");
        let s = scan(&img, SEGMENT_HEADER_LEN, 1);
        assert_eq!(s.records.len(), 1);
        assert!(matches!(&s.end, ScanEnd::Corrupt { reason, .. } if reason.contains("LSN 3")));
    }

    #[test]
    fn huge_length_never_allocates_and_is_classified() {
        let mut img = image(3, 50);
        let last = img.len() - frame_len(50);
        img[last..last + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let s = scan(&img, SEGMENT_HEADER_LEN, 1);
        assert_eq!(s.records.len(), 2);
        assert!(matches!(&s.end, ScanEnd::Torn { reason, .. } if reason.contains("exceeds")));
    }
}
