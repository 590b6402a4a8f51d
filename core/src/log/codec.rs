//! Record framing: `[length: u32 LE][crc32 of length: u32 LE][crc32 of payload: u32 LE]
//! [payload]`, the payload a bincode encoding of the record. The checksums are computed when
//! a record is written and verified when it is read back (the same property on both sides
//! of the disk).
//!
//! The length has a checksum of its own because it decides where a frame ends: a flipped
//! bit in an unchecked length can point past the end of the file and make a synced record
//! look like the torn prefix an interrupted append leaves, which recovery drops with every
//! record after it. ZooKeeper 3.8 refuses such a length only above `jute.maxbuffer`
//! (`BinaryInputArchive.checkLength`, "Unreasonable length"); below it, `Util.readTxnBytes`
//! reports "Last transaction was partial" and `FileTxnIterator.next` ends the log file
//! there. Here every flipped header bit is corruption, which recovery refuses (Alagappan
//! et al., "Protocol-Aware Recovery for Consensus-Based Storage", FAST 2018: a log must
//! tell corruption from a crash).

use super::DurableRecord;

const HEADER_BYTES: usize = 12;

/// Why a byte stream is not a sequence of valid records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    pub offset: usize,
    pub reason: String,
}

/// Encode one record with its frame.
pub fn encode(record: &DurableRecord) -> Vec<u8> {
    let payload = bincode::serialize(record).expect("records always serialize");
    let len = u32::try_from(payload.len()).expect("a record is under 4 GiB");
    let mut out = Vec::with_capacity(HEADER_BYTES + payload.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&len.to_le_bytes()).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// One frame at the start of `rest`.
enum Frame<'a> {
    /// The bytes end inside the frame's header or payload (a torn append).
    Incomplete(&'static str),
    /// A header or payload whose checksum fails.
    Corrupt(&'static str),
    Intact {
        payload: &'a [u8],
        len: usize,
    },
}

fn frame(rest: &[u8]) -> Frame<'_> {
    if rest.len() < HEADER_BYTES {
        return Frame::Incomplete("truncated record header");
    }
    let word = |at: usize| u32::from_le_bytes(rest[at..at + 4].try_into().expect("4 bytes"));
    // A length is trusted only once its checksum holds: only then can bytes ending before
    // the frame does be a torn append rather than a corrupt length.
    if crc32fast::hash(&rest[0..4]) != word(4) {
        return Frame::Corrupt("length checksum mismatch");
    }
    let len = word(0) as usize;
    if rest.len() < HEADER_BYTES + len {
        return Frame::Incomplete("truncated record payload");
    }
    let payload = &rest[HEADER_BYTES..HEADER_BYTES + len];
    if crc32fast::hash(payload) != word(8) {
        return Frame::Corrupt("checksum mismatch");
    }
    Frame::Intact {
        payload,
        len: HEADER_BYTES + len,
    }
}

/// Decode every record. With `allow_torn_tail`, an incomplete last frame (what a crash in
/// the middle of an append leaves) ends the stream quietly; a frame whose length or payload
/// checksum fails is always an error.
pub fn decode_all(bytes: &[u8], allow_torn_tail: bool) -> Result<Vec<DurableRecord>, DecodeError> {
    let mut records = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let error = |reason: &str| DecodeError {
            offset: at,
            reason: reason.to_string(),
        };
        match frame(&bytes[at..]) {
            Frame::Incomplete(_) if allow_torn_tail => break,
            Frame::Incomplete(reason) => return Err(error(reason)),
            Frame::Corrupt(reason) => return Err(error(reason)),
            Frame::Intact { payload, len } => {
                let record: DurableRecord = bincode::deserialize(payload)
                    .map_err(|e| error(&format!("undecodable record: {e}")))?;
                records.push(record);
                at += len;
            }
        }
    }
    Ok(records)
}

/// Where an incomplete last frame (a torn append) begins, if the bytes end with one and
/// every frame before it is intact.
pub fn torn_tail_at(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    while at < bytes.len() {
        match frame(&bytes[at..]) {
            Frame::Incomplete(_) => return Some(at),
            Frame::Corrupt(_) => return None,
            Frame::Intact { len, .. } => at += len,
        }
    }
    None
}

/// Where each frame begins, when every frame is intact to the end of the bytes; None when
/// one is torn or corrupt.
pub fn frame_starts(bytes: &[u8]) -> Option<Vec<usize>> {
    let mut starts = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match frame(&bytes[at..]) {
            Frame::Intact { len, .. } => {
                starts.push(at);
                at += len;
            }
            Frame::Incomplete(_) | Frame::Corrupt(_) => return None,
        }
    }
    Some(starts)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::log::{File, RecoverError, recover};
    use crate::txn::{Txn, TxnHeader};
    use crate::zab::messages::Proposal;

    fn txn(zxid: i64) -> DurableRecord {
        DurableRecord::Txn(Arc::new(Proposal {
            hdr: TxnHeader {
                session_id: 1,
                cxid: 1,
                zxid,
                time: 0,
            },
            txn: Txn::Delete { path: "/a".into() },
        }))
    }

    #[test]
    fn records_round_trip() {
        let records = vec![
            txn(1),
            DurableRecord::AcceptedEpoch(3),
            DurableRecord::Truncate { zxid: 7 },
        ];
        let bytes: Vec<u8> = records.iter().flat_map(encode).collect();
        assert_eq!(decode_all(&bytes, false), Ok(records));
    }

    #[test]
    fn a_torn_tail_is_dropped_but_corruption_is_refused() {
        // A crash mid-append leaves a partial frame: the records before it survive.
        let mut bytes = encode(&txn(1));
        let second = encode(&txn(2));
        bytes.extend_from_slice(&second[..second.len() - 3]);
        assert_eq!(decode_all(&bytes, true).map(|r| r.len()), Ok(1));
        assert!(decode_all(&bytes, false).is_err());
        // A flipped bit in a complete frame is corruption, wherever it is.
        let mut flipped: Vec<u8> = encode(&txn(1)).into_iter().chain(encode(&txn(2))).collect();
        flipped[10] ^= 0x40;
        let err = decode_all(&flipped, true).expect_err("checksum must fail");
        assert_eq!(err.offset, 0);
        assert_eq!(err.reason, "checksum mismatch");
    }

    #[test]
    fn a_flipped_length_bit_is_corruption_not_a_torn_tail() {
        // Default seed 8326: a bit flipped in the length of a synced record made it run past
        // the end of the log; read as a torn tail, it and every later record were dropped,
        // and the server, its epochs intact, won an election and truncated committed txns
        // on the others. Every header bit of a record in the middle is now corruption.
        let first = encode(&txn(1));
        let log: Vec<u8> = [txn(1), txn(2), txn(3)].iter().flat_map(encode).collect();
        for byte in first.len()..first.len() + HEADER_BYTES {
            for bit in 0..8 {
                let mut flipped = log.clone();
                flipped[byte] ^= 1 << bit;
                let err = decode_all(&flipped, true).expect_err("a flipped header bit is caught");
                assert_eq!(err.offset, first.len(), "byte {byte} bit {bit}");
                assert_eq!(torn_tail_at(&flipped), None, "byte {byte} bit {bit}");
            }
        }
        // A torn append still reads as one, wherever it was cut off.
        let second = encode(&txn(2));
        for cut in 1..second.len() {
            let mut torn = first.clone();
            torn.extend_from_slice(&second[..cut]);
            assert_eq!(decode_all(&torn, true).map(|r| r.len()), Ok(1), "cut {cut}");
            assert_eq!(torn_tail_at(&torn), Some(first.len()), "cut {cut}");
        }
    }

    #[test]
    fn recover_applies_truncation_and_refuses_corrupt_files() {
        // Truncate marks remove logged txns after their zxid.
        let log: Vec<u8> = [
            txn(1),
            txn(2),
            txn(3),
            DurableRecord::Truncate { zxid: 1 },
            txn(4),
        ]
        .iter()
        .flat_map(encode)
        .collect();
        let epoch = encode(&DurableRecord::CurrentEpoch(2));
        let state = recover(|f| match f {
            File::TxnLog => Some(log.clone()),
            File::CurrentEpoch => Some(epoch.clone()),
            _ => None,
        })
        .expect("valid files");
        let zxids: Vec<i64> = state.log.iter().map(|p| p.hdr.zxid).collect();
        assert_eq!(zxids, [1, 4]);
        assert_eq!(state.current_epoch, 2);
        let mut bad = log.clone();
        bad[12] ^= 1;
        let err = recover(|f| (f == File::TxnLog).then(|| bad.clone())).expect_err("corrupt log");
        assert!(
            matches!(
                err,
                RecoverError::Corrupt {
                    file: "log",
                    offset: 0,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("checksum mismatch"));
    }

    #[test]
    fn recovery_passes_over_a_txn_logged_out_of_zxid_order() {
        // A log writer that outlived its role (the stale-log-writer knob, ZOOKEEPER-4712)
        // appended txns 2 and 3 late; the next leader sent 2 again. Replay reads each zxid
        // once, in order, as ZooKeeper's replay goes on past a txn below the highest.
        let log: Vec<u8> = [txn(1), txn(2), txn(3), txn(2), txn(4)]
            .iter()
            .flat_map(encode)
            .collect();
        let state = recover(|f| (f == File::TxnLog).then(|| log.clone())).expect("valid files");
        let zxids: Vec<i64> = state.log.iter().map(|p| p.hdr.zxid).collect();
        assert_eq!(zxids, [1, 2, 3, 4]);
    }
}
