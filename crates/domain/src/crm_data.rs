//! A chat's CRM data and the five ways to update it, with lodash's semantics: the stored
//! data is the destination and the request's `data` the source, so `merge` is
//! `_.merge(existing, data)`, `assign` is `_.assign`, `defaults` is `_.defaults`,
//! `defaultsDeep` is `_.defaultsDeep`, and `replace` is the data itself.
//!
//! JSON has no `undefined`, so lodash's "absent or undefined" is "absent" here, and `null`
//! is a value like any other: a `null` in the source overwrites under `merge`, and a `null`
//! in the destination is kept by `defaults`.

use serde_json::{Map, Value};

/// How an update meets the existing CRM data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum MergeMode {
    /// The data replaces everything.
    Replace,
    /// Top-level keys of the data overwrite; nested objects are replaced, not merged.
    Assign,
    /// Deep merge: nested objects merge recursively, arrays index by index.
    #[default]
    Merge,
    /// Only top-level keys missing from the existing data are added.
    Defaults,
    /// Like `defaults`, recursively into nested objects and arrays.
    DefaultsDeep,
}

impl MergeMode {
    pub const NAMES: [&'static str; 5] = ["replace", "assign", "merge", "defaults", "defaultsDeep"];
}

/// The CRM data after applying `data` to `existing` in `mode`.
pub fn apply(
    mode: MergeMode,
    existing: &Map<String, Value>,
    data: &Map<String, Value>,
) -> Map<String, Value> {
    match mode {
        MergeMode::Replace => data.clone(),
        MergeMode::Assign => {
            let mut out = existing.clone();
            for (key, value) in data {
                out.insert(key.clone(), value.clone());
            }
            out
        }
        MergeMode::Defaults => {
            let mut out = existing.clone();
            for (key, value) in data {
                out.entry(key.clone()).or_insert_with(|| value.clone());
            }
            out
        }
        MergeMode::Merge => {
            let mut out = Value::Object(existing.clone());
            merge_into(&mut out, &Value::Object(data.clone()), false);
            into_map(out)
        }
        MergeMode::DefaultsDeep => {
            let mut out = Value::Object(existing.clone());
            merge_into(&mut out, &Value::Object(data.clone()), true);
            into_map(out)
        }
    }
}

/// The top-level keys whose value differs between `before` and `after`, sorted.
pub fn changed_keys(before: &Map<String, Value>, after: &Map<String, Value>) -> Vec<String> {
    let mut keys: Vec<String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| !same(before.get(*k), after.get(*k)))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => json_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

fn into_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("merging into an object keeps an object"),
    }
}

/// lodash's `eq` (SameValueZero) on JSON: numbers compare by value, `1` equals `1.0`.
fn eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Object(_), _) | (Value::Array(_), _) => false, // objects compare by identity
        _ => a == b,
    }
}

/// Deep value equality, numbers by value.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn is_object(value: &Value) -> bool {
    matches!(value, Value::Object(_) | Value::Array(_))
}

/// lodash's `baseMerge` of `source` into `target` (an object or an array); with
/// `defaults`, the `customDefaultsMerge` customizer of `_.defaultsDeep`.
fn merge_into(target: &mut Value, source: &Value, defaults: bool) {
    let entries: Vec<(Key, &Value)> = match source {
        Value::Object(map) => map.iter().map(|(k, v)| (Key::Name(k.clone()), v)).collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (Key::Index(i), v))
            .collect(),
        _ => return,
    };
    for (key, src) in entries {
        let current = get(target, &key).cloned();
        if defaults {
            match &current {
                // The customizer keeps what is there, merging objects into objects.
                Some(existing) if is_object(existing) && is_object(src) => {
                    let mut merged = existing.clone();
                    merge_into(&mut merged, src, true);
                    set(target, &key, merged);
                    continue;
                }
                Some(_) => continue,
                None => {}
            }
        }
        let new_value = if is_object(src) {
            // baseMergeDeep: start from the existing value when it can hold the source.
            let mut base = match (src, &current) {
                (Value::Array(_), Some(Value::Array(existing))) => Value::Array(existing.clone()),
                (Value::Array(_), _) => Value::Array(Vec::new()),
                (Value::Object(_), Some(existing)) if is_object(existing) => existing.clone(),
                _ => Value::Object(Map::new()),
            };
            merge_into(&mut base, src, defaults);
            base
        } else {
            src.clone()
        };
        // assignMergeValue: an equal primitive is left as it was.
        if current.as_ref().is_some_and(|c| eq(c, &new_value)) {
            continue;
        }
        set(target, &key, new_value);
    }
}

enum Key {
    Name(String),
    Index(usize),
}

fn get<'a>(target: &'a Value, key: &Key) -> Option<&'a Value> {
    match (target, key) {
        (Value::Object(map), Key::Name(name)) => map.get(name),
        (Value::Object(map), Key::Index(i)) => map.get(&i.to_string()),
        (Value::Array(items), Key::Index(i)) => items.get(*i),
        (Value::Array(items), Key::Name(name)) => array_index(name).and_then(|i| items.get(i)),
        _ => None,
    }
}

fn set(target: &mut Value, key: &Key, value: Value) {
    match (target, key) {
        (Value::Object(map), Key::Name(name)) => {
            map.insert(name.clone(), value);
        }
        (Value::Object(map), Key::Index(i)) => {
            map.insert(i.to_string(), value);
        }
        (Value::Array(items), Key::Index(i)) => set_index(items, *i, value),
        (Value::Array(items), Key::Name(name)) => {
            // A JavaScript array takes index-like keys as elements; other keys become
            // properties that JSON never shows.
            if let Some(i) = array_index(name) {
                set_index(items, i, value);
            }
        }
        _ => {}
    }
}

/// Writing past the end leaves holes, which JSON shows as `null`.
fn set_index(items: &mut Vec<Value>, i: usize, value: Value) {
    if i >= items.len() {
        items.resize(i + 1, Value::Null);
    }
    items[i] = value;
}

fn array_index(name: &str) -> Option<usize> {
    let canonical =
        name == "0" || (!name.starts_with('0') && name.chars().all(|c| c.is_ascii_digit()));
    if !canonical || name.is_empty() || name.len() > 9 {
        return None;
    }
    name.parse().ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run(mode: MergeMode, existing: Value, data: Value) -> Value {
        let (Value::Object(e), Value::Object(d)) = (existing, data) else {
            panic!("objects")
        };
        Value::Object(apply(mode, &e, &d))
    }

    fn before() -> Value {
        json!({"plan": "basic", "customer": {"id": 7, "name": "Niv"}, "tags": ["a", "b", "c"], "note": null})
    }

    fn seed_data() -> Value {
        json!({"plan": "premium", "tags": ["vip", "whale"], "customer": {"first_name": "Niv", "last_name": "Shteingart", "lead_id": 641225}})
    }

    #[test]
    fn replace_keeps_only_the_data() {
        assert_eq!(run(MergeMode::Replace, before(), seed_data()), seed_data());
        assert_eq!(run(MergeMode::Replace, before(), json!({})), json!({}));
    }

    #[test]
    fn assign_overwrites_top_level_keys_and_replaces_nested_objects() {
        assert_eq!(
            run(MergeMode::Assign, before(), seed_data()),
            json!({"plan": "premium", "tags": ["vip", "whale"], "note": null,
                   "customer": {"first_name": "Niv", "last_name": "Shteingart", "lead_id": 641225}})
        );
    }

    #[test]
    fn merge_is_deep_and_merges_arrays_index_by_index() {
        assert_eq!(
            run(MergeMode::Merge, before(), seed_data()),
            json!({"plan": "premium", "tags": ["vip", "whale", "c"], "note": null,
                   "customer": {"id": 7, "name": "Niv", "first_name": "Niv", "last_name": "Shteingart", "lead_id": 641225}})
        );
    }

    #[test]
    fn merge_lets_null_overwrite_and_types_replace_each_other() {
        assert_eq!(
            run(MergeMode::Merge, json!({"a": 1}), json!({"a": null})),
            json!({"a": null})
        );
        assert_eq!(
            run(MergeMode::Merge, json!({"a": {"x": 1}}), json!({"a": [1]})),
            json!({"a": [1]})
        );
        assert_eq!(
            run(MergeMode::Merge, json!({"a": "s"}), json!({"a": {}})),
            json!({"a": {}})
        );
        assert_eq!(
            run(MergeMode::Merge, json!({"a": {"x": 1}}), json!({"a": {}})),
            json!({"a": {"x": 1}})
        );
        // An object merged into an array sets index-like keys only.
        assert_eq!(
            run(
                MergeMode::Merge,
                json!({"a": [1, 2]}),
                json!({"a": {"1": 9, "z": 0, "3": 4}})
            ),
            json!({"a": [1, 9, null, 4]})
        );
        assert_eq!(
            run(
                MergeMode::Merge,
                json!({"a": [{"x": 1}, 2]}),
                json!({"a": [{"y": 2}]})
            ),
            json!({"a": [{"x": 1, "y": 2}, 2]})
        );
    }

    #[test]
    fn defaults_fill_only_missing_top_level_keys_and_keep_null() {
        assert_eq!(
            run(
                MergeMode::Defaults,
                before(),
                json!({"plan": "x", "note": "n", "new": {"k": 1}, "customer": {"email": "e"}})
            ),
            json!({"plan": "basic", "customer": {"id": 7, "name": "Niv"}, "tags": ["a", "b", "c"], "note": null, "new": {"k": 1}})
        );
    }

    #[test]
    fn defaults_deep_fills_nested_keys_and_array_holes() {
        assert_eq!(
            run(
                MergeMode::DefaultsDeep,
                before(),
                json!({"customer": {"name": "X", "email": "e"}, "tags": ["z", "y", "x", "w"], "note": {"a": 1}})
            ),
            json!({"plan": "basic", "customer": {"id": 7, "name": "Niv", "email": "e"}, "tags": ["a", "b", "c", "w"], "note": null})
        );
    }

    #[test]
    fn changed_keys_lists_top_level_differences() {
        let old = json!({"a": 1, "b": {"x": 1}, "c": 3})
            .as_object()
            .unwrap()
            .clone();
        let new = json!({"a": 1.0, "b": {"x": 2}, "d": 4})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(changed_keys(&old, &new), ["b", "c", "d"]);
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    use super::*;

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (-5i64..5).prop_map(Value::from),
            "[ab]{0,2}".prop_map(Value::from)
        ]
    }

    pub(crate) fn value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[abc]", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn object() -> impl Strategy<Value = Map<String, Value>> {
        proptest::collection::btree_map("[abc]", value(), 0..4)
            .prop_map(|m| m.into_iter().collect())
    }

    proptest! {
        #[test]
        fn merging_with_nothing_changes_nothing(existing in object(), mode in prop_oneof![
            Just(MergeMode::Assign), Just(MergeMode::Merge), Just(MergeMode::Defaults), Just(MergeMode::DefaultsDeep)]) {
            prop_assert_eq!(apply(mode, &existing, &Map::new()), existing);
        }

        #[test]
        fn merge_and_assign_give_every_source_key(existing in object(), data in object()) {
            for mode in [MergeMode::Merge, MergeMode::Assign] {
                let out = apply(mode, &existing, &data);
                for key in data.keys() { prop_assert!(out.contains_key(key)); }
                for key in existing.keys() { prop_assert!(out.contains_key(key)); }
            }
        }

        #[test]
        fn defaults_never_change_existing_top_level_values(existing in object(), data in object()) {
            let out = apply(MergeMode::Defaults, &existing, &data);
            for (key, value) in &existing { prop_assert_eq!(out.get(key), Some(value)); }
            let deep = apply(MergeMode::DefaultsDeep, &existing, &data);
            for (key, value) in &existing {
                if !matches!(value, Value::Object(_) | Value::Array(_)) { prop_assert_eq!(deep.get(key), Some(value)); }
            }
        }

        #[test]
        fn merge_is_idempotent(existing in object(), data in object()) {
            let once = apply(MergeMode::Merge, &existing, &data);
            let twice = apply(MergeMode::Merge, &once, &data);
            prop_assert_eq!(Value::Object(twice), Value::Object(once));
        }

        #[test]
        fn scalar_source_values_win_under_merge(existing in object(), key in "[abc]", leaf in leaf()) {
            let data = json!({ key.clone(): leaf.clone() }).as_object().unwrap().clone();
            let out = apply(MergeMode::Merge, &existing, &data);
            prop_assert!(super::json_eq(&out[&key], &leaf));
        }
    }
}
