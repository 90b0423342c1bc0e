//! Consistent Overhead Byte Stuffing: an encoding without the byte `00`,
//! so `00` can end a packet. Each run of non-zero bytes is preceded by a
//! code byte, its length plus one; a code of `FF` means 254 bytes with no
//! zero after them. The encoding is at most `len + len / 254 + 1` bytes.

/// The largest encoding of `len` bytes.
pub const fn max_encoded_len(len: usize) -> usize {
    len + len / 254 + 1
}

/// Encode `src` into `out`; `None` if `out` is too small.
pub fn encode(src: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut code_at = 0usize;
    let mut w = 1usize;
    let mut code: u8 = 1;
    // The slot for the first code byte must exist.
    out.get(code_at)?;
    for &b in src {
        if b == 0 {
            *out.get_mut(code_at)? = code;
            code_at = w;
            w = w.checked_add(1)?;
            out.get(code_at)?;
            code = 1;
        } else {
            *out.get_mut(w)? = b;
            w = w.checked_add(1)?;
            code += 1;
            if code == 0xFF {
                *out.get_mut(code_at)? = code;
                code_at = w;
                w = w.checked_add(1)?;
                out.get(code_at)?;
                code = 1;
            }
        }
    }
    *out.get_mut(code_at)? = code;
    Some(w)
}

/// Decode `buf` (without the ending `00`) in place; the decoded bytes are
/// `buf[..n]`. `None` if it is not a valid encoding (a `00` inside, or a
/// code running past the end).
pub fn decode_in_place(buf: &mut [u8]) -> Option<usize> {
    let len = buf.len();
    let mut r = 0usize;
    let mut w = 0usize;
    while r < len {
        let code = *buf.get(r)?;
        if code == 0 {
            return None;
        }
        r += 1;
        let run = usize::from(code) - 1;
        if r + run > len {
            return None;
        }
        for _ in 0..run {
            let b = *buf.get(r)?;
            if b == 0 {
                return None;
            }
            // w <= r - 1 always, so this never overwrites unread bytes.
            *buf.get_mut(w)? = b;
            r += 1;
            w += 1;
        }
        if code != 0xFF && r < len {
            *buf.get_mut(w)? = 0;
            w += 1;
        }
    }
    Some(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(src: &[u8]) {
        let mut enc = [0u8; 600];
        let n = encode(src, &mut enc).unwrap();
        assert!(n <= max_encoded_len(src.len()));
        assert!(
            !enc[..n].contains(&0),
            "encoding contains 00: {:?}",
            &enc[..n]
        );
        let mut buf = enc;
        let m = decode_in_place(&mut buf[..n]).unwrap();
        assert_eq!(&buf[..m], src);
    }

    #[test]
    fn known_encodings() {
        let mut out = [0u8; 16];
        let n = encode(&[0x11, 0x22, 0x00, 0x33], &mut out).unwrap();
        assert_eq!(&out[..n], &[0x03, 0x11, 0x22, 0x02, 0x33]);
        let n = encode(&[0x00], &mut out).unwrap();
        assert_eq!(&out[..n], &[0x01, 0x01]);
        let n = encode(&[], &mut out).unwrap();
        assert_eq!(&out[..n], &[0x01]);
    }

    #[test]
    fn round_trips_zeros_runs_and_long_blocks() {
        round_trip(&[]);
        round_trip(&[0]);
        round_trip(&[0, 0, 0]);
        round_trip(&[1, 2, 3]);
        let long: [u8; 300] = core::array::from_fn(|i| (i % 255) as u8 + 1);
        round_trip(&long);
        round_trip(&long[..254]);
        round_trip(&long[..253]);
        let mixed: [u8; 520] = core::array::from_fn(|i| (i * 7 % 256) as u8);
        round_trip(&mixed);
    }

    #[test]
    fn encoding_into_a_short_buffer_is_refused() {
        let mut out = [0u8; 3];
        assert_eq!(encode(&[1, 2, 3], &mut out), None);
        assert_eq!(encode(&[1], &mut []), None);
    }

    #[test]
    fn invalid_encodings_are_refused() {
        assert_eq!(decode_in_place(&mut [0x05, 1, 2]), None);
        assert_eq!(decode_in_place(&mut [0x02, 0]), None);
        assert_eq!(decode_in_place(&mut [0x00]), None);
    }
}
