//! Deterministic sample data: nested e-commerce orders as JSON Lines.
//!
//! The generator needs no external data and no `rand`: a tiny inline
//! splitmix64 PRNG, seeded from `(seed, order id)`, drives every choice, and
//! all numbers are formatted by hand, so the output for a given
//! `(count, seed)` is byte-identical across runs, platforms and releases of
//! the toolchain. It is fast enough for benchmarks (well over a million
//! orders per second in release builds).
//!
//! Each line is one order object with camelCase keys:
//!
//! ```json
//! {"orderId":1,"customerId":66272,"customerEmail":"edsger.schmidt66272@example.net",
//!  "status":"paid","createdAt":"2024-01-01T00:00:15Z","updatedAt":"2024-01-05T11:15:01Z",
//!  "totalAmount":220.45,"currency":"USD",
//!  "shippingAddress":{"street":"3321 Cedar Way","city":"Austin","zipCode":"78771","countryCode":"US"},
//!  "isGift":false,"notes":null,
//!  "lineItems":[{"sku":"SKU-10672","productName":"Studio Blender","quantity":2,"unitPrice":112.00,
//!                "discounts":[{"code":"BUNDLE","amountOff":3.55}]}]}
//! ```
//!
//! (order 1 of 1,000,000 with seed 42, wrapped here; the output has one
//! compact object per line.)
//!
//! * `orderId` runs `1..=count`; `createdAt` is non-decreasing in `orderId`
//!   and spread over 2024; `updatedAt` is `createdAt` plus up to a week, still
//!   within 2024. Timestamps are ISO 8601 with a `Z` suffix.
//! * `totalAmount`, `unitPrice` and `amountOff` always carry two decimals.
//! * `notes` is `null` for most orders; some notes contain JSON escapes
//!   (`\"`, `\n`) and non-ASCII UTF-8.
//! * Every order has 1–4 `lineItems`; every line item has 0–2 `discounts`.
//!
//! Loaded with dlt naming, the data lands in three tables: [`ROOT_TABLE`]
//! (`orders`: `order_id`, `customer_id`, …, `shipping_address__zip_code`, plus
//! `_dlt_load_id`, `_dlt_id`), [`LINE_ITEMS_TABLE`] (`orders__line_items`:
//! `sku`, `product_name`, `quantity`, `unit_price`, plus `_dlt_parent_id`,
//! `_dlt_list_idx`, `_dlt_id`) and [`DISCOUNTS_TABLE`]
//! (`orders__line_items__discounts`: `code`, `amount_off` plus the same
//! system columns). [`SampleStats`] reports the expected row counts.

use std::io::{self, Write};

/// dlt name of the root table the orders load into.
pub const ROOT_TABLE: &str = "orders";
/// dlt name of the child table holding `lineItems`.
pub const LINE_ITEMS_TABLE: &str = "orders__line_items";
/// dlt name of the grandchild table holding `lineItems[].discounts`.
pub const DISCOUNTS_TABLE: &str = "orders__line_items__discounts";

/// 2024-01-01T00:00:00Z as Unix seconds.
const BASE_EPOCH: u64 = 1_704_067_200;
/// `createdAt` spreads over the first 358 days of 2024 …
const CREATED_SPAN_SECS: u64 = 358 * 86_400;
/// … so that `updatedAt` (at most a week later) stays within 2024.
const MAX_UPDATE_DELAY_SECS: u64 = 7 * 86_400;
/// Number of distinct customers.
const CUSTOMERS: u64 = 100_000;
/// Flush the internal buffer to the writer once it holds this many bytes.
const FLUSH_AT: usize = 256 * 1024;

const STATUSES: [(&str, u64); 6] = [
    // (status, cumulative percent)
    ("pending", 8),
    ("paid", 20),
    ("shipped", 38),
    ("delivered", 90),
    ("cancelled", 96),
    ("refunded", 100),
];
const FIRST_NAMES: [&str; 16] = [
    "ada", "alan", "grace", "linus", "margaret", "dennis", "barbara", "ken", "frances", "john",
    "radia", "edsger", "sophie", "tim", "hedy", "donald",
];
const LAST_NAMES: [&str; 16] = [
    "lopez", "smith", "muller", "rossi", "garcia", "dubois", "novak", "jensen", "kim", "silva",
    "tanaka", "nguyen", "schmidt", "moreau", "bianchi", "fischer",
];
const DOMAINS: [&str; 4] = ["example.com", "example.org", "example.net", "mail.example"];
const STREETS: [&str; 12] = [
    "Maple", "Oak", "Cedar", "Elm", "Pine", "Birch", "Willow", "Harbor", "Mill", "Station", "Park",
    "Garden",
];
const STREET_SUFFIXES: [&str; 6] = ["St", "Ave", "Rd", "Blvd", "Ln", "Way"];
/// (city, country code, first three zip digits); zip codes are strings, some
/// with a leading zero.
const CITIES: [(&str, &str, &str); 16] = [
    ("San Francisco", "US", "941"),
    ("New York", "US", "100"),
    ("Austin", "US", "787"),
    ("Seattle", "US", "981"),
    ("Chicago", "US", "606"),
    ("Boston", "US", "021"),
    ("Berlin", "DE", "101"),
    ("Munich", "DE", "803"),
    ("Köln", "DE", "506"),
    ("Paris", "FR", "750"),
    ("Lyon", "FR", "690"),
    ("Madrid", "ES", "280"),
    ("Barcelona", "ES", "080"),
    ("Milan", "IT", "201"),
    ("Rome", "IT", "001"),
    ("Vienna", "AT", "010"),
];
/// Note texts, already JSON-escaped.
const NOTES: [&str; 6] = [
    "Leave at the front door",
    "Please ring the bell twice",
    r#"Use the \"back\" entrance"#,
    r"Deliver after 6pm\nweekdays only",
    "Fragile ☕ handle with care",
    "Gift wrap, no invoice in the box",
];
const ADJECTIVES: [&str; 10] = [
    "Classic", "Modern", "Compact", "Deluxe", "Eco", "Vintage", "Smart", "Ultra", "Travel",
    "Studio",
];
const NOUNS: [&str; 10] = [
    "Lamp",
    "Backpack",
    "Kettle",
    "Headphones",
    "Notebook",
    "Chair",
    "Blender",
    "Jacket",
    "Speaker",
    "Mug",
];
const DISCOUNT_CODES: [&str; 6] = ["SAVE5", "SAVE10", "WELCOME", "FREESHIP", "VIP20", "BUNDLE"];

/// Row and byte counts of generated data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SampleStats {
    /// Orders written: rows expected in [`ROOT_TABLE`].
    pub orders: u64,
    /// Line items written: rows expected in [`LINE_ITEMS_TABLE`].
    pub line_items: u64,
    /// Discounts written: rows expected in [`DISCOUNTS_TABLE`].
    pub discounts: u64,
    /// Bytes of JSON Lines output, newlines included.
    pub bytes: u64,
}

impl SampleStats {
    /// Rows across all three tables.
    pub fn total_rows(&self) -> u64 {
        self.orders + self.line_items + self.discounts
    }
}

/// Generator of `count` orders for one `seed`.
///
/// Use [`OrderGenerator::write_next`] to append lines to a reused buffer (the
/// fast path), or iterate to get one `String` (without newline) per order.
/// The content of order `n` depends only on `(seed, n, count)`.
#[derive(Debug, Clone)]
pub struct OrderGenerator {
    seed: u64,
    count: u64,
    next: u64,
    stats: SampleStats,
}

impl OrderGenerator {
    /// A generator of orders `1..=count`, deterministic in `seed`.
    pub fn new(count: u64, seed: u64) -> Self {
        Self {
            seed: mix64(seed ^ 0x6461_6E67_6F5F_7331),
            count,
            next: 0,
            stats: SampleStats::default(),
        }
    }

    /// Orders not generated yet.
    pub fn remaining(&self) -> u64 {
        self.count - self.next
    }

    /// Counts of everything generated so far.
    pub fn stats(&self) -> SampleStats {
        self.stats
    }

    /// Appends the next order and a trailing `\n` to `buf`; returns `false`
    /// (leaving `buf` untouched) once all `count` orders are generated.
    pub fn write_next(&mut self, buf: &mut Vec<u8>) -> bool {
        if self.next >= self.count {
            return false;
        }
        let start = buf.len();
        self.write_order(buf);
        buf.push(b'\n');
        self.next += 1;
        self.stats.orders += 1;
        self.stats.bytes += (buf.len() - start) as u64;
        true
    }

    fn write_order(&mut self, buf: &mut Vec<u8>) {
        let index = self.next;
        let order_id = index + 1;
        let mut rng = SplitMix64(mix64(self.seed ^ mix64(order_id)));

        // Customer and address are a pure function of the customer id.
        let customer_id = 1 + rng.below(CUSTOMERS);
        let c = mix64(
            self.seed
                .wrapping_add(customer_id.wrapping_mul(0xA076_1D64_78BD_642F)),
        );
        let (city, country, zip_prefix) = CITIES[((c >> 48) % CITIES.len() as u64) as usize];

        let roll = rng.below(100);
        let status = STATUSES
            .iter()
            .find(|(_, upto)| roll < *upto)
            .map_or("refunded", |s| s.0);

        // createdAt: order `index` gets a random second inside its own slot of
        // the span, so timestamps never decrease with the order id.
        let count = self.count;
        let slot = |i: u64| match i.checked_mul(CREATED_SPAN_SECS) {
            Some(product) => product / count,
            None => (u128::from(i) * u128::from(CREATED_SPAN_SECS) / u128::from(count)) as u64,
        };
        let (slot_start, slot_end) = (slot(index), slot(index + 1));
        let created = BASE_EPOCH + slot_start + rng.below((slot_end - slot_start).max(1));
        let updated = if status == "pending" {
            created
        } else {
            created + rng.below(MAX_UPDATE_DELAY_SECS)
        };

        let is_gift = rng.below(100) < 8;
        let note = (rng.below(100) < 25).then(|| NOTES[rng.below(NOTES.len() as u64) as usize]);

        // Line items first: totalAmount precedes them in the output.
        let mut items = [LineItem::default(); 4];
        let items = LineItem::generate(&mut rng, &mut items);
        self.stats.line_items += items.len() as u64;
        self.stats.discounts += items.iter().map(|i| i.n_discounts as u64).sum::<u64>();
        let mut total_cents: u64 = items.iter().map(LineItem::total_cents).sum();
        if total_cents < 5_000 {
            total_cents += 499; // shipping
        }

        buf.extend_from_slice(b"{\"orderId\":");
        push_u64(buf, order_id);
        buf.extend_from_slice(b",\"customerId\":");
        push_u64(buf, customer_id);
        buf.extend_from_slice(b",\"customerEmail\":\"");
        buf.extend_from_slice(FIRST_NAMES[(c % 16) as usize].as_bytes());
        buf.push(b'.');
        buf.extend_from_slice(LAST_NAMES[((c >> 8) % 16) as usize].as_bytes());
        push_u64(buf, customer_id);
        buf.push(b'@');
        buf.extend_from_slice(DOMAINS[((c >> 16) % 4) as usize].as_bytes());
        buf.extend_from_slice(b"\",\"status\":\"");
        buf.extend_from_slice(status.as_bytes());
        buf.extend_from_slice(b"\",\"createdAt\":\"");
        push_timestamp(buf, created);
        buf.extend_from_slice(b"\",\"updatedAt\":\"");
        push_timestamp(buf, updated);
        buf.extend_from_slice(b"\",\"totalAmount\":");
        push_cents(buf, total_cents);
        buf.extend_from_slice(b",\"currency\":\"");
        buf.extend_from_slice(if country == "US" { b"USD" } else { b"EUR" });
        buf.extend_from_slice(b"\",\"shippingAddress\":{\"street\":\"");
        push_u64(buf, 1 + (c >> 20) % 9_999);
        buf.push(b' ');
        buf.extend_from_slice(STREETS[((c >> 36) % STREETS.len() as u64) as usize].as_bytes());
        buf.push(b' ');
        buf.extend_from_slice(STREET_SUFFIXES[((c >> 42) % 6) as usize].as_bytes());
        buf.extend_from_slice(b"\",\"city\":\"");
        buf.extend_from_slice(city.as_bytes());
        buf.extend_from_slice(b"\",\"zipCode\":\"");
        buf.extend_from_slice(zip_prefix.as_bytes());
        push_2digits(buf, (c >> 56) % 100);
        buf.extend_from_slice(b"\",\"countryCode\":\"");
        buf.extend_from_slice(country.as_bytes());
        buf.extend_from_slice(if is_gift {
            b"\"},\"isGift\":true" as &[u8]
        } else {
            b"\"},\"isGift\":false"
        });
        buf.extend_from_slice(b",\"notes\":");
        match note {
            Some(text) => {
                buf.push(b'"');
                buf.extend_from_slice(text.as_bytes());
                buf.push(b'"');
            }
            None => buf.extend_from_slice(b"null"),
        }
        buf.extend_from_slice(b",\"lineItems\":[");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            item.write_json(buf);
        }
        buf.extend_from_slice(b"]}");
    }
}

impl Iterator for OrderGenerator {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        let mut buf = Vec::with_capacity(1024);
        if !self.write_next(&mut buf) {
            return None;
        }
        buf.pop(); // the newline
        Some(String::from_utf8(buf).expect("generator emits UTF-8"))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.remaining()).unwrap_or(usize::MAX);
        (n, Some(n))
    }
}

impl ExactSizeIterator for OrderGenerator {}

/// Writes `count` orders as JSON Lines to `out` and returns the bytes written.
///
/// Buffers internally (no need to wrap `out` in a `BufWriter`) and flushes
/// `out` at the end.
pub fn write_orders<W: Write>(out: W, count: u64, seed: u64) -> io::Result<u64> {
    write_orders_with_stats(out, count, seed).map(|s| s.bytes)
}

/// Like [`write_orders`], but returns the expected row count of every table.
pub fn write_orders_with_stats<W: Write>(
    mut out: W,
    count: u64,
    seed: u64,
) -> io::Result<SampleStats> {
    let mut generator = OrderGenerator::new(count, seed);
    let mut buf = Vec::with_capacity(FLUSH_AT + 4096);
    while generator.write_next(&mut buf) {
        if buf.len() >= FLUSH_AT {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)?;
    out.flush()?;
    Ok(generator.stats())
}

#[derive(Debug, Clone, Copy, Default)]
struct LineItem {
    /// Index into the `ADJECTIVES` × `NOUNS` catalogue.
    product: u32,
    quantity: u64,
    n_discounts: usize,
    /// (index into `DISCOUNT_CODES`, cents off)
    discounts: [(u8, u64); 2],
}

impl LineItem {
    /// Fills 1–4 of `items` and returns them.
    fn generate<'a>(rng: &mut SplitMix64, items: &'a mut [LineItem; 4]) -> &'a [LineItem] {
        let n_items = match rng.below(100) {
            0..40 => 1,
            40..70 => 2,
            70..90 => 3,
            _ => 4,
        };
        for item in &mut items[..n_items] {
            item.product = rng.below((ADJECTIVES.len() * NOUNS.len()) as u64) as u32;
            item.quantity = if rng.below(100) < 5 {
                4 + rng.below(7)
            } else {
                1 + rng.below(3)
            };
            // Discounts take at most a quarter of the line each.
            let cap = (item.quantity * product_price_cents(item.product) / 4).max(1);
            item.n_discounts = match rng.below(100) {
                0..65 => 0,
                65..90 => 1,
                _ => 2,
            };
            for d in &mut item.discounts[..item.n_discounts] {
                d.0 = rng.below(DISCOUNT_CODES.len() as u64) as u8;
                d.1 = (50 + rng.below(1951)).min(cap);
            }
        }
        &items[..n_items]
    }

    /// Line price after discounts.
    fn total_cents(&self) -> u64 {
        let off: u64 = self.discounts[..self.n_discounts].iter().map(|d| d.1).sum();
        self.quantity * product_price_cents(self.product) - off
    }

    fn write_json(&self, buf: &mut Vec<u8>) {
        let p = self.product as usize;
        buf.extend_from_slice(b"{\"sku\":\"SKU-");
        push_u64(buf, 10_000 + (p as u64) * 7);
        buf.extend_from_slice(b"\",\"productName\":\"");
        buf.extend_from_slice(ADJECTIVES[p / NOUNS.len()].as_bytes());
        buf.push(b' ');
        buf.extend_from_slice(NOUNS[p % NOUNS.len()].as_bytes());
        buf.extend_from_slice(b"\",\"quantity\":");
        push_u64(buf, self.quantity);
        buf.extend_from_slice(b",\"unitPrice\":");
        push_cents(buf, product_price_cents(self.product));
        buf.extend_from_slice(b",\"discounts\":[");
        for (j, (code, cents)) in self.discounts[..self.n_discounts].iter().enumerate() {
            if j > 0 {
                buf.push(b',');
            }
            buf.extend_from_slice(b"{\"code\":\"");
            buf.extend_from_slice(DISCOUNT_CODES[*code as usize].as_bytes());
            buf.extend_from_slice(b"\",\"amountOff\":");
            push_cents(buf, *cents);
            buf.push(b'}');
        }
        buf.extend_from_slice(b"]}");
    }
}

/// splitmix64: tiny, fast, and good enough for synthetic data.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }

    /// Uniform-ish in `0..n` (multiply-high; bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Fixed catalogue price of a product, e.g. 119.99.
fn product_price_cents(product: u32) -> u64 {
    let h = mix64(u64::from(product) ^ 0x7072_6963_6573);
    let dollars = 2 + h % 300;
    let cents = [99, 49, 0, 95][((h >> 32) & 3) as usize];
    dollars * 100 + cents
}

/// "00" "01" … "99", for formatting two digits at a time.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819202122232425262728293031323334353637383940414243444546474849\
5051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";

fn push_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        tmp[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        i -= 2;
        tmp[i..i + 2].copy_from_slice(&DIGIT_PAIRS[n as usize * 2..n as usize * 2 + 2]);
    } else {
        i -= 1;
        tmp[i] = b'0' + n as u8;
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// `n % 100` as exactly two digits.
fn push_2digits(buf: &mut Vec<u8>, n: u64) {
    let pair = (n % 100) as usize * 2;
    buf.extend_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
}

/// `cents` as a decimal with exactly two fraction digits, e.g. `12.50`.
fn push_cents(buf: &mut Vec<u8>, cents: u64) {
    push_u64(buf, cents / 100);
    buf.push(b'.');
    push_2digits(buf, cents % 100);
}

/// Unix seconds (≥ 1970) as `YYYY-MM-DDTHH:MM:SSZ`.
fn push_timestamp(buf: &mut Vec<u8>, secs: u64) {
    let (year, month, day) = civil_from_days(secs / 86_400);
    let tod = secs % 86_400;
    push_2digits(buf, year / 100);
    push_2digits(buf, year % 100);
    buf.push(b'-');
    push_2digits(buf, month);
    buf.push(b'-');
    push_2digits(buf, day);
    buf.push(b'T');
    push_2digits(buf, tod / 3_600);
    buf.push(b':');
    push_2digits(buf, tod / 60 % 60);
    buf.push(b':');
    push_2digits(buf, tod % 60);
    buf.push(b'Z');
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's algorithm.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generate(count: u64, seed: u64) -> (Vec<u8>, SampleStats) {
        let mut out = Vec::new();
        let stats = write_orders_with_stats(&mut out, count, seed).unwrap();
        (out, stats)
    }

    /// FNV-1a, to pin the exact output.
    fn fnv1a(bytes: &[u8]) -> u64 {
        bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        })
    }

    #[test]
    fn same_seed_gives_same_bytes() {
        let (a, sa) = generate(2_000, 42);
        let (b, sb) = generate(2_000, 42);
        assert_eq!(a, b);
        assert_eq!(sa, sb);
        assert_eq!(write_orders(Vec::new(), 2_000, 42).unwrap(), a.len() as u64);
        let (c, _) = generate(2_000, 43);
        assert_ne!(a, c);
    }

    #[test]
    fn output_is_pinned() {
        // Changing this hash changes every published benchmark input: only
        // do it deliberately.
        let (out, stats) = generate(1_000, 42);
        assert_eq!((fnv1a(&out), stats.bytes), (PINNED_HASH, PINNED_BYTES));
    }
    const PINNED_HASH: u64 = 25_878_367_375_198_346;
    const PINNED_BYTES: u64 = 581_282;

    #[test]
    fn every_line_is_a_valid_order() {
        let count = 5_000;
        let (out, stats) = generate(count, 7);
        assert_eq!(stats.bytes, out.len() as u64);
        assert_eq!(*out.last().unwrap(), b'\n');
        let (mut line_items, mut discounts) = (0u64, 0u64);
        let mut seen = [false; 5];
        let mut last_created = String::new();
        let text = std::str::from_utf8(&out).unwrap();
        for (i, line) in text.lines().enumerate() {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("line {i}: {e}: {line}"));
            assert_eq!(v["orderId"].as_u64(), Some(i as u64 + 1));
            assert!(v["customerId"].as_u64().is_some());
            assert!(v["customerEmail"].as_str().unwrap().contains('@'));
            assert!(v["totalAmount"].as_f64().unwrap() > 0.0);
            assert!(v["isGift"].is_boolean());
            assert!(v["notes"].is_null() || v["notes"].is_string());
            assert!(["USD", "EUR"].contains(&v["currency"].as_str().unwrap()));
            let address = v["shippingAddress"].as_object().unwrap();
            assert_eq!(address["zipCode"].as_str().unwrap().len(), 5);
            assert_eq!(address.len(), 4);
            let created = v["createdAt"].as_str().unwrap();
            let updated = v["updatedAt"].as_str().unwrap();
            for ts in [created, updated] {
                let parsed = chrono::DateTime::parse_from_rfc3339(ts).unwrap();
                assert!(ts.ends_with('Z') && ts.starts_with("2024-"), "{ts}");
                assert_eq!(
                    parsed.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    ts
                );
            }
            assert!(updated >= created);
            assert!(
                created >= last_created.as_str(),
                "createdAt decreased at line {i}"
            );
            last_created = created.to_owned();

            let items = v["lineItems"].as_array().unwrap();
            assert!((1..=4).contains(&items.len()));
            seen[items.len()] = true;
            line_items += items.len() as u64;
            for item in items {
                assert!(item["sku"].as_str().unwrap().starts_with("SKU-"));
                assert!(item["productName"].is_string());
                assert!(item["quantity"].as_u64().unwrap() >= 1);
                assert!(item["unitPrice"].as_f64().unwrap() > 0.0);
                let ds = item["discounts"].as_array().unwrap();
                assert!(ds.len() <= 2);
                discounts += ds.len() as u64;
                for d in ds {
                    assert!(d["code"].is_string());
                    assert!(d["amountOff"].as_f64().unwrap() > 0.0);
                }
            }
        }
        assert_eq!(text.lines().count() as u64, count);
        assert_eq!(
            (stats.orders, stats.line_items, stats.discounts),
            (count, line_items, discounts)
        );
        assert!(seen[1..].iter().all(|s| *s), "all line item counts occur");
        assert!(
            text.contains(r#"\"back\""#)
                && text.contains("Köln")
                && text.contains("\"notes\":null")
        );
    }

    #[test]
    fn amounts_have_two_decimals() {
        let (out, _) = generate(500, 1);
        let text = String::from_utf8(out).unwrap();
        for key in ["\"totalAmount\":", "\"unitPrice\":", "\"amountOff\":"] {
            for part in text.split(key).skip(1) {
                let number: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.')
                    .collect();
                let (_, frac) = number.split_once('.').unwrap();
                assert_eq!(frac.len(), 2, "{key}{number}");
            }
        }
    }

    #[test]
    fn iterator_matches_writer() {
        let (out, _) = generate(300, 9);
        let lines: Vec<String> = OrderGenerator::new(300, 9).collect();
        assert_eq!(lines.len(), 300);
        assert_eq!(lines.join("\n") + "\n", String::from_utf8(out).unwrap());
        assert_eq!(OrderGenerator::new(0, 9).next(), None);
    }

    #[test]
    fn timestamps_cover_2024_even_for_huge_counts() {
        let mut g = OrderGenerator::new(100_000_000, 3);
        let mut buf = Vec::new();
        g.write_next(&mut buf);
        assert!(
            std::str::from_utf8(&buf)
                .unwrap()
                .contains("\"createdAt\":\"2024-01-01T00:00:0")
        );
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_088), (2024, 12, 31));
    }
}
