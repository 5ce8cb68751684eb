//! Four `shake_128` digests at once: Keccak-f[1600] on four states in AVX2 registers (one
//! 64-bit lane of each state per 256-bit register).
//!
//! Nested row ids are `shake_128` of short strings (one sponge block each), so a chunk's ids
//! are computed four at a time. [`shake128_x4`] returns `None` when the CPU has no AVX2 or an
//! input needs more than one block; the caller then uses the scalar `tiny-keccak` path, which
//! gives the same bytes (tested against it below).

/// SHAKE128's rate in bytes: inputs of at most `RATE - 1` bytes fit one padded block.
pub const RATE: usize = 168;

/// Bytes of each digest [`shake128_x4`] returns (the first two lanes of the state).
pub const OUT: usize = 16;

/// `shake_128(input).digest(16)` of four inputs, or `None` when AVX2 is missing or an input
/// is longer than `RATE - 1` bytes.
pub fn shake128_x4(inputs: [&[u8]; 4]) -> Option<[[u8; OUT]; 4]> {
    if inputs.iter().any(|i| i.len() >= RATE) {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is available (checked above).
            return Some(unsafe { avx2::shake128_x4(inputs) });
        }
    }
    None
}

/// Little-endian lane `j` of the padded block of `input` (shorter than `RATE`): the bytes
/// and SHAKE's `0x1F` domain padding, without the final `0x80` bit of the block.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[inline]
fn padded_lane(input: &[u8], j: usize) -> u64 {
    let start = 8 * j;
    let mut b = [0u8; 8];
    if let Some(full) = input.get(start..start + 8) {
        b.copy_from_slice(full);
    } else if start <= input.len() {
        let rest = &input[start..];
        b[..rest.len()].copy_from_slice(rest);
        b[rest.len()] = 0x1F;
    }
    u64::from_le_bytes(b)
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{OUT, RATE, padded_lane};

    const RC: [u64; 24] = [
        0x0000_0000_0000_0001,
        0x0000_0000_0000_8082,
        0x8000_0000_0000_808a,
        0x8000_0000_8000_8000,
        0x0000_0000_0000_808b,
        0x0000_0000_8000_0001,
        0x8000_0000_8000_8081,
        0x8000_0000_0000_8009,
        0x0000_0000_0000_008a,
        0x0000_0000_0000_0088,
        0x0000_0000_8000_8009,
        0x0000_0000_8000_000a,
        0x0000_0000_8000_808b,
        0x8000_0000_0000_008b,
        0x8000_0000_0000_8089,
        0x8000_0000_0000_8003,
        0x8000_0000_0000_8002,
        0x8000_0000_0000_0080,
        0x0000_0000_0000_800a,
        0x8000_0000_8000_000a,
        0x8000_0000_8000_8081,
        0x8000_0000_0000_8080,
        0x0000_0000_8000_0001,
        0x8000_0000_8000_8008,
    ];

    /// Rotates each 64-bit lane left by a constant.
    macro_rules! rotl {
        ($v:expr, 0) => {
            $v
        };
        ($v:expr, 8) => {
            _mm256_shuffle_epi8(
                $v,
                _mm256_set_epi8(
                    14, 13, 12, 11, 10, 9, 8, 15, 6, 5, 4, 3, 2, 1, 0, 7, 14, 13, 12, 11, 10, 9, 8,
                    15, 6, 5, 4, 3, 2, 1, 0, 7,
                ),
            )
        };
        ($v:expr, 56) => {
            _mm256_shuffle_epi8(
                $v,
                _mm256_set_epi8(
                    8, 15, 14, 13, 12, 11, 10, 9, 0, 7, 6, 5, 4, 3, 2, 1, 8, 15, 14, 13, 12, 11,
                    10, 9, 0, 7, 6, 5, 4, 3, 2, 1,
                ),
            )
        };
        ($v:expr, $n:literal) => {{
            let v = $v;
            _mm256_or_si256(
                _mm256_slli_epi64::<$n>(v),
                _mm256_srli_epi64::<{ 64 - $n }>(v),
            )
        }};
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn xor(a: __m256i, b: __m256i) -> __m256i {
        _mm256_xor_si256(a, b)
    }

    /// `!a & b`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn andnot(a: __m256i, b: __m256i) -> __m256i {
        _mm256_andnot_si256(a, b)
    }

    /// Keccak-f[1600] on four interleaved states. The rho/pi/chi lines were generated from
    /// the rotation offsets (lane `x + 5y`) and the pi map `B[y, 2x+3y] = A[x, y]`.
    #[target_feature(enable = "avx2")]
    fn keccakf4(a: &mut [__m256i; 25]) {
        for rc in RC {
            let c0 = xor(xor(xor(a[0], a[5]), xor(a[10], a[15])), a[20]);
            let c1 = xor(xor(xor(a[1], a[6]), xor(a[11], a[16])), a[21]);
            let c2 = xor(xor(xor(a[2], a[7]), xor(a[12], a[17])), a[22]);
            let c3 = xor(xor(xor(a[3], a[8]), xor(a[13], a[18])), a[23]);
            let c4 = xor(xor(xor(a[4], a[9]), xor(a[14], a[19])), a[24]);
            let d0 = xor(c4, rotl!(c1, 1));
            let d1 = xor(c0, rotl!(c2, 1));
            let d2 = xor(c1, rotl!(c3, 1));
            let d3 = xor(c2, rotl!(c4, 1));
            let d4 = xor(c3, rotl!(c0, 1));

            let b0 = rotl!(xor(a[0], d0), 0);
            let b1 = rotl!(xor(a[6], d1), 44);
            let b2 = rotl!(xor(a[12], d2), 43);
            let b3 = rotl!(xor(a[18], d3), 21);
            let b4 = rotl!(xor(a[24], d4), 14);
            let b5 = rotl!(xor(a[3], d3), 28);
            let b6 = rotl!(xor(a[9], d4), 20);
            let b7 = rotl!(xor(a[10], d0), 3);
            let b8 = rotl!(xor(a[16], d1), 45);
            let b9 = rotl!(xor(a[22], d2), 61);
            let b10 = rotl!(xor(a[1], d1), 1);
            let b11 = rotl!(xor(a[7], d2), 6);
            let b12 = rotl!(xor(a[13], d3), 25);
            let b13 = rotl!(xor(a[19], d4), 8);
            let b14 = rotl!(xor(a[20], d0), 18);
            let b15 = rotl!(xor(a[4], d4), 27);
            let b16 = rotl!(xor(a[5], d0), 36);
            let b17 = rotl!(xor(a[11], d1), 10);
            let b18 = rotl!(xor(a[17], d2), 15);
            let b19 = rotl!(xor(a[23], d3), 56);
            let b20 = rotl!(xor(a[2], d2), 62);
            let b21 = rotl!(xor(a[8], d3), 55);
            let b22 = rotl!(xor(a[14], d4), 39);
            let b23 = rotl!(xor(a[15], d0), 41);
            let b24 = rotl!(xor(a[21], d1), 2);

            a[0] = xor(xor(b0, andnot(b1, b2)), _mm256_set1_epi64x(rc as i64));
            a[1] = xor(b1, andnot(b2, b3));
            a[2] = xor(b2, andnot(b3, b4));
            a[3] = xor(b3, andnot(b4, b0));
            a[4] = xor(b4, andnot(b0, b1));
            a[5] = xor(b5, andnot(b6, b7));
            a[6] = xor(b6, andnot(b7, b8));
            a[7] = xor(b7, andnot(b8, b9));
            a[8] = xor(b8, andnot(b9, b5));
            a[9] = xor(b9, andnot(b5, b6));
            a[10] = xor(b10, andnot(b11, b12));
            a[11] = xor(b11, andnot(b12, b13));
            a[12] = xor(b12, andnot(b13, b14));
            a[13] = xor(b13, andnot(b14, b10));
            a[14] = xor(b14, andnot(b10, b11));
            a[15] = xor(b15, andnot(b16, b17));
            a[16] = xor(b16, andnot(b17, b18));
            a[17] = xor(b17, andnot(b18, b19));
            a[18] = xor(b18, andnot(b19, b15));
            a[19] = xor(b19, andnot(b15, b16));
            a[20] = xor(b20, andnot(b21, b22));
            a[21] = xor(b21, andnot(b22, b23));
            a[22] = xor(b22, andnot(b23, b24));
            a[23] = xor(b23, andnot(b24, b20));
            a[24] = xor(b24, andnot(b20, b21));
        }
    }

    /// See [`super::shake128_x4`]; every input is shorter than `RATE`.
    #[target_feature(enable = "avx2")]
    pub(super) fn shake128_x4(inputs: [&[u8]; 4]) -> [[u8; OUT]; 4] {
        let mut a = [_mm256_setzero_si256(); 25];
        // Lanes past every input's padding byte are zero.
        let used = inputs.iter().map(|i| i.len() / 8 + 1).max().unwrap_or(1);
        for (j, slot) in a.iter_mut().take(used.min(RATE / 8)).enumerate() {
            // `_mm256_set_epi64x` takes the highest lane first; state k sits in lane k.
            *slot = _mm256_set_epi64x(
                padded_lane(inputs[3], j) as i64,
                padded_lane(inputs[2], j) as i64,
                padded_lane(inputs[1], j) as i64,
                padded_lane(inputs[0], j) as i64,
            );
        }
        // The last bit of the block.
        a[RATE / 8 - 1] = xor(a[RATE / 8 - 1], _mm256_set1_epi64x((0x80u64 << 56) as i64));
        keccakf4(&mut a);
        let lane0 = to_u64s(a[0]);
        let lane1 = to_u64s(a[1]);
        let mut out = [[0u8; OUT]; 4];
        for (k, o) in out.iter_mut().enumerate() {
            o[..8].copy_from_slice(&lane0[k].to_le_bytes());
            o[8..].copy_from_slice(&lane1[k].to_le_bytes());
        }
        out
    }

    #[target_feature(enable = "avx2")]
    fn to_u64s(v: __m256i) -> [u64; 4] {
        [
            _mm256_extract_epi64::<0>(v) as u64,
            _mm256_extract_epi64::<1>(v) as u64,
            _mm256_extract_epi64::<2>(v) as u64,
            _mm256_extract_epi64::<3>(v) as u64,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pycompat::hash::shake128;

    fn scalar(input: &[u8]) -> [u8; OUT] {
        let mut out = [0u8; OUT];
        shake128(input, &mut out);
        out
    }

    #[test]
    fn matches_tiny_keccak_on_random_inputs() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            eprintln!("skipped: no AVX2 on this CPU");
            return;
        }
        let mut lens: Vec<usize> = (0..RATE).collect();
        lens.extend((0..4000).map(|_| rand::random_range(0..RATE)));
        for chunk in lens.chunks(4) {
            let inputs: Vec<Vec<u8>> = (0..4)
                .map(|k| {
                    let n = chunk.get(k).copied().unwrap_or(0);
                    (0..n).map(|_| rand::random::<u8>()).collect()
                })
                .collect();
            let refs = [
                &inputs[0][..],
                &inputs[1][..],
                &inputs[2][..],
                &inputs[3][..],
            ];
            let got = shake128_x4(refs).expect("AVX2 and short inputs");
            for k in 0..4 {
                assert_eq!(got[k], scalar(refs[k]), "input {:?}", refs[k]);
            }
        }
    }

    #[test]
    fn known_digest_and_long_inputs() {
        // python3 -c "import hashlib; print(hashlib.shake_128(b'abc').hexdigest(16))"
        let abc = "5881092dd818bf5cf8a3ddb793fbcba7";
        if let Some(got) = shake128_x4([b"abc", b"", b"abc", b"x"]) {
            let hex: String = got[2].iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, abc);
            assert_eq!(got[0], got[2]);
        }
        let long = vec![b'a'; RATE];
        assert!(shake128_x4([b"", &long, b"", b""]).is_none());
    }
}
