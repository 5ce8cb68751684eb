//! hashlib's `shake_128` and `sha3_256`, as dlt uses them: row ids (`digest128`), identifier
//! shortening tags, incremental dedup digests, schema and state version hashes.
//!
//! One implementation (tiny-keccak) serves all of them.

use tiny_keccak::{Hasher, Sha3, Shake, Xof};

/// `hashlib.shake_128(data).digest(out.len())` into `out`.
pub fn shake128(data: &[u8], out: &mut [u8]) {
    let mut h = Shake::v128();
    h.update(data);
    h.squeeze(out);
}

/// An incremental `hashlib.sha3_256()`: feed parts with [`Sha3_256::update`].
pub struct Sha3_256(Sha3);

impl Default for Sha3_256 {
    fn default() -> Self {
        Sha3_256(Sha3::v256())
    }
}

impl Sha3_256 {
    /// Adds `data` to the hash.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The 32-byte digest.
    pub fn finalize(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        self.0.finalize(&mut out);
        out
    }
}

/// `hashlib.sha3_256(data).digest()`.
pub fn sha3_256(data: &[u8]) -> [u8; 32] {
    let mut h = Sha3_256::default();
    h.update(data);
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn matches_hashlib() {
        // python3 -c "import hashlib; print(hashlib.sha3_256(b'abc').hexdigest())"
        assert_eq!(
            hex(&sha3_256(b"abc")),
            "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"
        );
        // python3 -c "import hashlib; print(hashlib.shake_128(b'abc').hexdigest(8))"
        let mut out = [0u8; 8];
        shake128(b"abc", &mut out);
        assert_eq!(hex(&out), "5881092dd818bf5c");
    }
}
