//! Stream unit tests: node packing, deletion, trimming and the body
//! codec. Replies are compared with Redis in `tests/differential_streams.rs`.

use bytes::Bytes;

use super::codec::{decode_body, encode_body};
use super::{Stream, StreamId, Trim, TrimBy};

fn pairs(n: usize) -> Vec<(Bytes, Bytes)> {
    (0..n)
        .map(|i| (Bytes::from(format!("f{i}")), Bytes::from(format!("v{i}"))))
        .collect()
}

fn stream_of(count: u64) -> Stream {
    let mut stream = Stream::default();
    for i in 1..=count {
        stream.append(StreamId::new(i, 0), &pairs(1));
    }
    stream
}

fn ids(stream: &Stream) -> Vec<u64> {
    stream
        .live_entries(StreamId::MIN, StreamId::MAX, false)
        .map(|entry| entry.id.ms)
        .collect()
}

fn round_trip(stream: &Stream) -> Stream {
    let mut body = Vec::new();
    encode_body(stream, &mut body);
    decode_body(&body).expect("a valid body")
}

#[test]
fn nodes_hold_a_hundred_entries() {
    let stream = stream_of(250);
    assert_eq!(stream.nodes.len(), 3);
    assert_eq!(stream.len(), 250);
    assert_eq!(stream.first_id(), StreamId::new(1, 0));
    assert_eq!(stream.last_id(), StreamId::new(250, 0));
    let back: Vec<u64> = stream
        .live_entries(StreamId::new(99, 0), StreamId::new(102, 0), true)
        .map(|entry| entry.id.ms)
        .collect();
    assert_eq!(back, [102, 101, 100, 99]);
}

#[test]
fn large_entries_start_new_nodes() {
    let mut stream = Stream::default();
    let big = vec![(Bytes::from_static(b"f"), Bytes::from(vec![b'x'; 3000]))];
    for i in 1..=3 {
        stream.append(StreamId::new(i, 0), &big);
    }
    assert_eq!(stream.nodes.len(), 3);
}

#[test]
fn deleting_every_entry_of_a_node_drops_it() {
    let mut stream = stream_of(150);
    let first_node: Vec<StreamId> = (1..=100).map(|i| StreamId::new(i, 0)).collect();
    assert_eq!(stream.delete_ids(&first_node), 100);
    assert_eq!(
        stream.delete_ids(&[StreamId::new(5, 0)]),
        0,
        "already deleted"
    );
    assert_eq!(stream.first_id(), StreamId::new(101, 0));
    assert_eq!(stream.max_deleted_id(), StreamId::new(100, 0));
    assert_eq!(stream.nodes.len(), 1);
    assert_eq!(stream.len(), 50);
    assert_eq!(round_trip(&stream), stream);
}

#[test]
fn approximate_trims_drop_whole_nodes_only() {
    let mut stream = stream_of(250);
    let approx = |by| Trim {
        by,
        approx: true,
        limit: 10_000,
    };
    assert_eq!(stream.trim(&approx(TrimBy::MaxLen(180))), 0);
    assert_eq!(stream.trim(&approx(TrimBy::MaxLen(150))), 100);
    assert_eq!(stream.first_id(), StreamId::new(101, 0));
    assert_eq!(
        stream.trim(&approx(TrimBy::MinId(StreamId::new(240, 0)))),
        100
    );
    assert_eq!(stream.len(), 50);
    let limited = Trim {
        by: TrimBy::MaxLen(0),
        approx: true,
        limit: 49,
    };
    assert_eq!(
        stream.trim(&limited),
        0,
        "the node holds more than the limit"
    );
}

#[test]
fn exact_trims_mark_entries_inside_a_node() {
    let mut stream = stream_of(250);
    let exact = |by| Trim {
        by,
        approx: false,
        limit: 0,
    };
    assert_eq!(stream.trim(&exact(TrimBy::MaxLen(145))), 105);
    assert_eq!(ids(&stream).first(), Some(&106));
    assert_eq!(stream.first_id(), StreamId::new(106, 0));
    assert_eq!(
        stream.trim(&exact(TrimBy::MinId(StreamId::new(200, 0)))),
        94
    );
    assert_eq!(stream.len(), 51);
    assert_eq!(round_trip(&stream), stream);
    assert_eq!(stream.trim(&exact(TrimBy::MaxLen(0))), 51);
    assert!(stream.is_empty());
    assert_eq!(stream.first_id(), StreamId::MIN);
    assert_eq!(stream.last_id(), StreamId::new(250, 0));
}

/// Redis lets `XSETID` go below a deleted entry (it checks the last live
/// one), so the next `XADD` may reuse a deleted ID: such a stream must
/// still dump, restore and be a run.
#[test]
fn an_id_reused_after_xsetid_round_trips() {
    let mut stream = stream_of(3);
    assert_eq!(stream.delete_ids(&[StreamId::new(3, 0)]), 1);
    stream
        .set_id(StreamId::new(2, 0), None, None)
        .expect("allowed");
    assert_eq!(round_trip(&stream), stream, "a deleted entry above last_id");
    stream.append(StreamId::new(3, 0), &pairs(1));
    assert_eq!(ids(&stream), [1, 2, 3]);
    assert_eq!(round_trip(&stream), stream);
    assert_eq!(stream.delete_ids(&[StreamId::new(3, 0)]), 1);
    assert_eq!(stream.len(), 2);
}

/// `XSETID` below a node's deleted tail, then `XADD`s: new IDs land
/// below deleted ones, in the same node and in a new one.
#[test]
fn ids_below_deleted_ones_round_trip() {
    let mut stream = stream_of(100);
    let tail: Vec<StreamId> = (51..=100).map(|i| StreamId::new(i, 0)).collect();
    assert_eq!(stream.delete_ids(&tail), 50);
    stream
        .set_id(StreamId::new(50, 0), None, None)
        .expect("allowed");
    stream.append(StreamId::new(51, 0), &pairs(1));
    assert_eq!(stream.nodes.len(), 2, "the first node was full");
    assert_eq!(round_trip(&stream), stream);
    let mut small = stream_of(10);
    let tail: Vec<StreamId> = (6..=10).map(|i| StreamId::new(i, 0)).collect();
    assert_eq!(small.delete_ids(&tail), 5);
    small
        .set_id(StreamId::new(5, 0), None, None)
        .expect("allowed");
    small.append(StreamId::new(6, 0), &pairs(1));
    small.append(StreamId::new(7, 0), &pairs(1));
    assert_eq!(small.nodes.len(), 1);
    assert_eq!(ids(&small), [1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(round_trip(&small), small);
}

#[test]
fn bodies_that_no_stream_could_have_are_refused() {
    let stream = stream_of(120);
    let mut body = Vec::new();
    encode_body(&stream, &mut body);
    for cut in 0..body.len() {
        assert!(decode_body(&body[..cut]).is_none(), "cut at {cut}");
    }
    let mut wrong_length = body.clone();
    wrong_length[0] = 7;
    assert!(decode_body(&wrong_length).is_none());
    let mut low_last_id = body.clone();
    low_last_id[8..16].copy_from_slice(&5u64.to_le_bytes());
    assert!(decode_body(&low_last_id).is_none());
    for at in 0..body.len() {
        let mut flipped = body.clone();
        flipped[at] ^= 0x55;
        // Any decode must not panic; a valid one must encode back the same.
        if let Some(stream) = decode_body(&flipped) {
            let mut again = Vec::new();
            encode_body(&stream, &mut again);
            assert_eq!(again, flipped);
        }
    }
}
