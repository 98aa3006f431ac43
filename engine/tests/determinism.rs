//! Two engines applying the same ops at the same timestamps give the same
//! replies, the same SCAN order and the same KEYS order.

mod common;

use common::{random_op, record, scan_all, Rng};
use redraft_engine::Engine;

#[test]
fn same_ops_same_replies_and_order() {
    let (a, b) = (Engine::new(), Engine::new());
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut now_ms = 1_700_000_000_000;
    for step in 0..5000 {
        now_ms += rng.below(20);
        let op = random_op(&mut rng, 40);
        let reply_a = a.apply(0, &op, now_ms);
        let reply_b = b.apply(0, &op, now_ms);
        assert_eq!(reply_a, reply_b, "step {step}: {op:?}");
        if step % 500 == 0 {
            assert_eq!(scan_all(&a, now_ms), scan_all(&b, now_ms));
        }
    }
    assert_eq!(scan_all(&a, now_ms), scan_all(&b, now_ms));
    let keys_a = record(|sink| a.keys(0, b"*", now_ms, sink));
    let keys_b = record(|sink| b.keys(0, b"*", now_ms, sink));
    assert_eq!(keys_a, keys_b);
    assert_eq!(a.dbsize(0), b.dbsize(0));
    assert_eq!(a.expires_count(0), b.expires_count(0));
    assert_eq!(a.stats().used_memory_bytes, b.stats().used_memory_bytes);
    a.check_invariants();
    b.check_invariants();
}
