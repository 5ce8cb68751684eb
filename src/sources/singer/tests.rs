//! Unit tests of the `singer:` block.

use super::*;
use crate::sources::types::find;

#[test]
fn block_is_checked_and_config_substituted() {
    let env = Env::from_vars([("TOKEN", "t-1")]);
    let parse = |y: &str| {
        let block: Yaml = serde_norway::from_str(y).unwrap();
        find("singer").unwrap().parse("s", &block, &env)
    };
    let cfg = parse("command: [tap-x, --flag]\nconfig: {token: \"${TOKEN}\"}\nselect: [users]\n")
        .unwrap();
    let text = format!("{cfg:?}");
    assert!(text.contains("t-1") && text.contains("users"), "{text}");
    let e = parse("command: []\n").unwrap_err().to_string();
    assert!(e.contains("`command` is empty"), "{e}");
    let e = parse("command: [x]\ncatalogue: c.json\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field `catalogue`"), "{e}");
    let e = parse("command: [x]\nconfig: {a: \"${NOPE}\"}\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("NOPE"), "{e}");
}
