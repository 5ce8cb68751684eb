//! Python compatibility: the places where dango must produce exactly the bytes dlt (CPython,
//! orjson, pendulum, hashlib) produces, so ids, hashes and stored documents match dlt's.
//!
//! Everything that imitates a Python library lives here, so a difference from dlt has one
//! place to be fixed: [`hash`] (hashlib's `shake_128` and `sha3_256`).

pub mod hash;
