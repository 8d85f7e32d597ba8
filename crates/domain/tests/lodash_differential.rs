//! Differential test of the CRM-data merge modes against lodash itself.
//!
//! Needs node and lodash, so it is ignored by default; `.ci/run` installs lodash and runs it:
//! `STAGECOACH_LODASH=path/to/node_modules/lodash cargo test -p stagecoach-domain
//!  --test lodash_differential -- --ignored`.

use std::io::Write;
use std::process::{Command, Stdio};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{Map, Value, json};
use stagecoach_domain::crm_data::{MergeMode, apply};

const PAIRS: usize = 3000;

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-3i64..3).prop_map(Value::from),
        "[ab]{0,2}".prop_map(Value::from),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            // Index-like keys ("0", "1") exercise objects meeting arrays.
            proptest::collection::btree_map("[ab01]", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn object() -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::btree_map("[abc]", value(), 0..5).prop_map(|m| m.into_iter().collect())
}

/// Value equality with numbers compared by value, as JavaScript sees them.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[test]
#[ignore = "needs node and lodash (STAGECOACH_LODASH); .ci/run runs it"]
fn merge_modes_match_lodash() {
    let lodash = std::env::var("STAGECOACH_LODASH")
        .expect("STAGECOACH_LODASH: the path of lodash's package");
    let mut runner = TestRunner::deterministic();
    let strategy = (object(), object());
    let pairs: Vec<(Map<String, Value>, Map<String, Value>)> = (0..PAIRS)
        .map(|_| strategy.new_tree(&mut runner).expect("a sample").current())
        .collect();
    let input: Vec<Value> = pairs
        .iter()
        .map(|(e, d)| json!({"existing": e, "data": d}))
        .collect();

    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/lodash-merge.cjs"
    );
    let mut node = Command::new("node")
        .arg(script)
        .env("LODASH_PATH", lodash)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node");
    node.stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&input).unwrap().as_bytes())
        .unwrap();
    let output = node.wait_with_output().unwrap();
    assert!(output.status.success(), "node failed");
    let expected: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();

    let mut mismatches = Vec::new();
    for ((existing, data), lodash) in pairs.iter().zip(&expected) {
        for (name, mode) in [
            ("assign", MergeMode::Assign),
            ("merge", MergeMode::Merge),
            ("defaults", MergeMode::Defaults),
            ("defaultsDeep", MergeMode::DefaultsDeep),
        ] {
            let ours = Value::Object(apply(mode, existing, data));
            if !same(&ours, &lodash[name]) {
                mismatches.push(format!(
                    "{name}: existing {} data {}\n  lodash {}\n  ours   {ours}",
                    json!(existing),
                    json!(data),
                    lodash[name]
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} cases differ from lodash; first ones:\n{}",
        mismatches.len(),
        PAIRS * 4,
        mismatches
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
