//! What differs between two run configs, key by key (the `--set` paths).

use serde_json::Value;

use super::RunConfig;

/// One key whose value differs: its path, its value in A and in B (`None`
/// where a config does not have it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigChange {
    pub key: String,
    pub a: Option<String>,
    pub b: Option<String>,
}

impl RunConfig {
    /// The keys whose values differ from `other`'s, in path order. Lists
    /// (depths, crop ranges) count as one value.
    pub fn diff(&self, other: &RunConfig) -> Vec<ConfigChange> {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let json = |c: &RunConfig| serde_json::to_value(c).unwrap_or(Value::Null);
        leaves("", &json(self), &mut a);
        leaves("", &json(other), &mut b);
        let mut keys: Vec<&String> = a.iter().chain(&b).map(|(k, _)| k).collect();
        keys.sort();
        keys.dedup();
        let find = |list: &[(String, String)], key: &str| {
            list.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
        };
        keys.into_iter()
            .filter_map(|key| {
                let (va, vb) = (find(&a, key), find(&b, key));
                (va != vb).then(|| ConfigChange {
                    key: key.clone(),
                    a: va,
                    b: vb,
                })
            })
            .collect()
    }
}

/// `value`'s leaves as (dotted path, text).
fn leaves(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&path, v, out);
            }
        }
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_keys_are_listed_with_both_values() {
        let a = RunConfig::default();
        let mut b = a.clone();
        b.optimizer.lr = 3e-4;
        b.model.depths = [2, 2, 2, 2];
        let changes = a.diff(&b);
        let keys: Vec<&str> = changes.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["model.depths", "optimizer.lr"]);
        assert_eq!(changes[1].b.as_deref(), Some("0.0003"));
        assert_eq!(changes[0].b.as_deref(), Some("[2,2,2,2]"));
        assert!(a.diff(&a).is_empty());
    }
}
