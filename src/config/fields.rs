//! Reads one JSON object of a filter config field by field, with Kong's error messages, and
//! reports the fields nobody asked for: an unknown field is an error, never silently ignored.

use super::schema::{note, Kind};
use super::ConfigError;
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// One config object being read. `null` counts as absent, as in Kong's Admin API output.
pub struct Fields<'a> {
    path: String,
    map: &'a Map<String, Value>,
    taken: BTreeSet<&'a str>,
    /// Every name the parser asked for, present or not: what an unknown field is compared with.
    asked: BTreeSet<String>,
}

impl<'a> Fields<'a> {
    /// `path` is the object's own dotted path ("" for the top level of a filter config).
    pub fn new(path: &str, value: &'a Value) -> Result<Self, ConfigError> {
        match value {
            Value::Object(map) => Ok(Self {
                path: path.to_string(),
                map,
                taken: BTreeSet::new(),
                asked: BTreeSet::new(),
            }),
            _ => Err(ConfigError::new(path, "expected a record (JSON object)")),
        }
    }

    /// The dotted path of a field of this object, for error messages.
    pub fn path_of(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{}", self.path, name)
        }
    }

    pub fn error(&self, name: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::new(self.path_of(name), message)
    }

    /// Whether the field is present and not null (does not mark it as read).
    pub fn has(&self, name: &str) -> bool {
        matches!(self.map.get(name), Some(v) if !v.is_null())
    }

    /// The raw value, marking the field as read.
    pub fn value(&mut self, name: &str) -> Option<&'a Value> {
        self.asked.insert(name.to_string());
        let (key, value) = self.map.get_key_value(name)?;
        self.taken.insert(key.as_str());
        (!value.is_null()).then_some(value)
    }

    pub fn str(&mut self, name: &str) -> Result<Option<&'a str>, ConfigError> {
        note(&self.path_of(name), Kind::Str);
        match self.value(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(self.error(name, "expected a string")),
        }
    }

    pub fn bool(&mut self, name: &str) -> Result<Option<bool>, ConfigError> {
        note(&self.path_of(name), Kind::Bool);
        match self.value(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.error(name, "expected a boolean")),
        }
    }

    pub fn number(&mut self, name: &str) -> Result<Option<f64>, ConfigError> {
        note(&self.path_of(name), Kind::Number);
        match self.value(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.error(name, "expected a number")),
            Some(_) => Err(self.error(name, "expected a number")),
        }
    }

    /// An integer within `min..=max` (Kong: "value should be between MIN and MAX").
    pub fn int(&mut self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ConfigError> {
        note(&self.path_of(name), Kind::Int { min, max });
        let Some(value) = self.value(name) else {
            return Ok(None);
        };
        let n = match value {
            Value::Number(n) => n.as_i64().or_else(|| {
                // 2000.0 is an integer to Kong (Lua numbers); 2000.5 is not.
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            }),
            _ => None,
        };
        match n {
            None => Err(self.error(name, "expected an integer")),
            Some(n) if n < min || n > max => {
                Err(self.error(name, format!("value should be between {min} and {max}")))
            }
            Some(n) => Ok(Some(n)),
        }
    }

    pub fn array(&mut self, name: &str) -> Result<Option<&'a Vec<Value>>, ConfigError> {
        note(&self.path_of(name), Kind::Array);
        match self.value(name) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(_) => Err(self.error(name, "expected an array")),
        }
    }

    /// An array of strings.
    pub fn strings(&mut self, name: &str) -> Result<Option<Vec<&'a str>>, ConfigError> {
        let items = self.array(name)?;
        note(&self.path_of(name), Kind::Strings);
        let Some(items) = items else {
            return Ok(None);
        };
        items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str().ok_or_else(|| {
                    ConfigError::new(
                        format!("{}[{}]", self.path_of(name), i + 1),
                        "expected a string",
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// An array of integers, each within `min..=max` (Kong's `elements = {type = "integer",
    /// between = {min, max}}`).
    pub fn ints(
        &mut self,
        name: &str,
        min: i64,
        max: i64,
    ) -> Result<Option<Vec<i64>>, ConfigError> {
        let items = self.array(name)?;
        note(&self.path_of(name), Kind::Ints { min, max });
        let Some(items) = items else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, v) in items.iter().enumerate() {
            let at = format!("{}[{}]", self.path_of(name), i + 1);
            let n = v
                .as_i64()
                .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                .ok_or_else(|| ConfigError::new(at.clone(), "expected an integer"))?;
            if n < min || n > max {
                return Err(ConfigError::new(
                    at,
                    format!("value should be between {min} and {max}"),
                ));
            }
            out.push(n);
        }
        Ok(Some(out))
    }

    /// An array of strings, each one of `allowed` (Kong: "expected one of: a, b").
    pub fn each_one_of(
        &mut self,
        name: &str,
        allowed: &[&'static str],
    ) -> Result<Option<Vec<&'static str>>, ConfigError> {
        let items = self.strings(name)?;
        note(&self.path_of(name), Kind::StringsOneOf(allowed.to_vec()));
        let Some(items) = items else {
            return Ok(None);
        };
        items
            .iter()
            .enumerate()
            .map(|(i, s)| {
                allowed.iter().find(|a| **a == *s).copied().ok_or_else(|| {
                    ConfigError::new(
                        format!("{}[{}]", self.path_of(name), i + 1),
                        format!("expected one of: {}", allowed.join(", ")),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// A number greater than 0 (Kong: "value must be greater than 0").
    pub fn positive(&mut self, name: &str) -> Result<Option<f64>, ConfigError> {
        let n = self.number(name)?;
        note(&self.path_of(name), Kind::Positive);
        match n {
            Some(n) if n <= 0.0 => Err(self.error(name, "value must be greater than 0")),
            n => Ok(n),
        }
    }

    /// A nested record, to be read with its own `Fields` (and `finish`ed by the caller).
    pub fn record(&mut self, name: &str) -> Result<Option<Fields<'a>>, ConfigError> {
        let path = self.path_of(name);
        note(&path, Kind::Record);
        match self.value(name) {
            None => Ok(None),
            Some(v) => Fields::new(&path, v).map(Some),
        }
    }

    /// One of a fixed set of strings (Kong: "expected one of: a, b, c").
    pub fn one_of(
        &mut self,
        name: &str,
        allowed: &[&'static str],
    ) -> Result<Option<&'static str>, ConfigError> {
        let s = self.str(name)?;
        note(&self.path_of(name), Kind::OneOf(allowed.to_vec()));
        let Some(s) = s else {
            return Ok(None);
        };
        allowed
            .iter()
            .find(|a| **a == s)
            .copied()
            .map(Some)
            .ok_or_else(|| self.error(name, format!("expected one of: {}", allowed.join(", "))))
    }

    /// Refuses the fields that were never read, with the nearest known name when one is close
    /// (`minutes` -> `minute`).
    pub fn finish(self) -> Result<(), ConfigError> {
        let Some(unknown) = self.map.keys().find(|k| !self.taken.contains(k.as_str())) else {
            return Ok(());
        };
        let nearest = self
            .asked
            .iter()
            .map(|known| (edit_distance(unknown, known), known))
            .filter(|(d, known)| *d <= 2 && *d < known.len())
            .min();
        let message = match nearest {
            Some((_, known)) => format!("unknown field (did you mean '{known}'?)"),
            None => "unknown field".to_string(),
        };
        Err(self.error(unknown, message))
    }
}

/// Levenshtein distance, for "did you mean" (names are short).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row.first().copied().unwrap_or(0);
        if let Some(first) = row.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev + usize::from(ca != *cb);
            let (Some(&left), Some(&up)) = (row.get(j), row.get(j + 1)) else {
                break;
            };
            prev = up;
            if let Some(cell) = row.get_mut(j + 1) {
                *cell = substitute.min(left + 1).min(up + 1);
            }
        }
    }
    row.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn null_is_absent_and_types_are_checked() {
        let v = json!({"a": null, "b": "x", "c": 3, "d": true});
        let mut f = Fields::new("", &v).unwrap();
        assert_eq!(f.str("a").unwrap(), None);
        assert_eq!(f.str("b").unwrap(), Some("x"));
        assert_eq!(f.int("c", 0, 5).unwrap(), Some(3));
        assert_eq!(f.bool("d").unwrap(), Some(true));
        f.finish().unwrap();
    }

    #[test]
    fn errors_name_the_field_with_its_path() {
        let v = json!({"port": "6379"});
        let mut f = Fields::new("redis", &v).unwrap();
        let e = f.int("port", 0, 65535).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid config: redis.port: expected an integer"
        );
    }

    #[test]
    fn range_error_uses_kongs_wording() {
        let v = json!({"port": 70000});
        let mut f = Fields::new("redis", &v).unwrap();
        let e = f.int("port", 0, 65535).unwrap_err();
        assert_eq!(e.field, "redis.port");
        assert_eq!(e.message, "value should be between 0 and 65535");
    }

    #[test]
    fn whole_floats_are_integers_but_fractions_are_not() {
        let v = json!({"a": 2000.0, "b": 1.5});
        let mut f = Fields::new("", &v).unwrap();
        assert_eq!(f.int("a", 0, 5000).unwrap(), Some(2000));
        assert!(f.int("b", 0, 5).is_err());
    }

    #[test]
    fn unknown_field_is_reported() {
        let v = json!({"host": "h", "hots": "typo"});
        let mut f = Fields::new("redis", &v).unwrap();
        f.str("host").unwrap();
        let e = f.finish().unwrap_err();
        assert_eq!(e.field, "redis.hots");
        assert_eq!(e.message, "unknown field (did you mean 'host'?)");
        let v = json!({"zzz": 1});
        let mut f = Fields::new("", &v).unwrap();
        f.str("host").unwrap();
        assert_eq!(f.finish().unwrap_err().message, "unknown field");
        assert_eq!(edit_distance("minutes", "minute"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn one_of_lists_the_choices() {
        let v = json!({"role": "primary"});
        let mut f = Fields::new("redis", &v).unwrap();
        let e = f.one_of("role", &["master", "slave", "any"]).unwrap_err();
        assert_eq!(e.message, "expected one of: master, slave, any");
    }

    #[test]
    fn non_object_is_refused() {
        let v = json!([1]);
        assert!(Fields::new("redis", &v).is_err());
    }
}
