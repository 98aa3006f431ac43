//! redraft-bench: criterion benches (`cargo bench -p redraft-bench`) for
//! the RESP codec and the engine, and the side-by-side load harness
//! `bench/side_by_side.py` that runs redis-benchmark against redraft and a
//! real redis-server in the same run. This library holds the inputs the
//! benches share.

/// A pipeline of `count` `SET key:<i> <value>` commands as RESP bytes, the
/// shape redis-benchmark sends.
pub fn set_pipeline(count: usize, value_len: usize) -> Vec<u8> {
    let value = vec![b'x'; value_len];
    let mut out = Vec::with_capacity(count * (40 + value_len));
    for i in 0..count {
        let key = format!("key:{i:012}");
        out.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n",
                key.len(),
                value.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(&value);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn pipeline_has_every_command() {
        let bytes = super::set_pipeline(3, 4);
        assert_eq!(bytes.windows(3).filter(|w| w == b"SET").count(), 3);
        assert!(bytes.ends_with(b"xxxx\r\n"));
    }
}
