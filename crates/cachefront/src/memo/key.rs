//! The readable form of a memo key: a serde `Serializer` writing a canonical string.

use std::fmt;

use serde::{Serialize, ser};

/// The canonical readable form of a memo key: compact, unambiguous for a given key type, and
/// the same in every process (map entries are sorted).
///
/// Strings are quoted (`"` and `\` escaped), numbers and booleans written as is, sequences in
/// `[..]`, tuples in `(..)`, structs and maps in `{name:value,..}`, enum variants by name,
/// `None` as `null` (and `Some` of an option with a leading `?`, so that `Some(None)` differs
/// from `None`), bytes as `0x..` hex.
pub(super) fn readable_key<K: Serialize + ?Sized>(key: &K) -> Result<String, KeyError> {
    let mut out = String::new();
    key.serialize(&mut KeyWriter::new(&mut out))?;
    Ok(out)
}

#[derive(Debug)]
pub(super) struct KeyError(String);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeyError {}

impl ser::Error for KeyError {
    fn custom<M: fmt::Display>(message: M) -> Self {
        Self(message.to_string())
    }
}

struct KeyWriter<'o> {
    out: &'o mut String,
    /// The value being written is the content of a `Some`.
    in_some: bool,
}

impl<'o> KeyWriter<'o> {
    fn new(out: &'o mut String) -> Self {
        Self { out, in_some: false }
    }

    /// Starts a value that is not an option.
    fn plain(&mut self) -> &mut String {
        self.in_some = false;
        self.out
    }

    fn display(&mut self, value: impl fmt::Display) {
        use fmt::Write as _;
        let _ = write!(self.plain(), "{value}");
    }

    fn quoted(&mut self, quote: char, text: &str) {
        let out = self.plain();
        out.push(quote);
        for c in text.chars() {
            if c == quote || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push(quote);
    }

    fn open(&mut self, prefix: &str, open: char, close: char) -> Compound<'_, 'o> {
        let out = self.plain();
        out.push_str(prefix);
        out.push(open);
        Compound {
            writer: self,
            first: true,
            close,
        }
    }
}

struct Compound<'w, 'o> {
    writer: &'w mut KeyWriter<'o>,
    first: bool,
    close: char,
}

impl Compound<'_, '_> {
    fn element<T: Serialize + ?Sized>(&mut self, name: Option<&str>, value: &T) -> Result<(), KeyError> {
        if !std::mem::take(&mut self.first) {
            self.writer.out.push(',');
        }
        if let Some(name) = name {
            self.writer.out.push_str(name);
            self.writer.out.push(':');
        }
        value.serialize(&mut *self.writer)
    }

    fn close(self) -> Result<(), KeyError> {
        self.writer.out.push(self.close);
        Ok(())
    }
}

macro_rules! compound {
    ($trait:ident, $method:ident) => {
        impl ser::$trait for Compound<'_, '_> {
            type Ok = ();
            type Error = KeyError;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
                self.element(None, value)
            }

            fn end(self) -> Result<(), KeyError> {
                self.close()
            }
        }
    };
    ($trait:ident) => {
        impl ser::$trait for Compound<'_, '_> {
            type Ok = ();
            type Error = KeyError;

            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                name: &'static str,
                value: &T,
            ) -> Result<(), KeyError> {
                self.element(Some(name), value)
            }

            fn end(self) -> Result<(), KeyError> {
                self.close()
            }
        }
    };
}

compound!(SerializeSeq, serialize_element);
compound!(SerializeTuple, serialize_element);
compound!(SerializeTupleStruct, serialize_field);
compound!(SerializeTupleVariant, serialize_field);
compound!(SerializeStruct);
compound!(SerializeStructVariant);

/// A map's entries, each written on its own and sorted at the end.
struct MapWriter<'w, 'o> {
    writer: &'w mut KeyWriter<'o>,
    entries: Vec<String>,
}

impl ser::SerializeMap for MapWriter<'_, '_> {
    type Ok = ();
    type Error = KeyError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), KeyError> {
        let mut entry = readable_key(key)?;
        entry.push(':');
        self.entries.push(entry);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
        let entry = self
            .entries
            .last_mut()
            .ok_or_else(|| <KeyError as ser::Error>::custom("map value without a key"))?;
        value.serialize(&mut KeyWriter::new(entry))
    }

    fn end(mut self) -> Result<(), KeyError> {
        self.entries.sort_unstable();
        let out = &mut *self.writer.out;
        out.push('{');
        for (i, entry) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(entry);
        }
        out.push('}');
        Ok(())
    }
}

impl<'w, 'o> ser::Serializer for &'w mut KeyWriter<'o> {
    type Ok = ();
    type Error = KeyError;
    type SerializeSeq = Compound<'w, 'o>;
    type SerializeTuple = Compound<'w, 'o>;
    type SerializeTupleStruct = Compound<'w, 'o>;
    type SerializeTupleVariant = Compound<'w, 'o>;
    type SerializeMap = MapWriter<'w, 'o>;
    type SerializeStruct = Compound<'w, 'o>;
    type SerializeStructVariant = Compound<'w, 'o>;

    fn serialize_bool(self, v: bool) -> Result<(), KeyError> {
        self.display(v);
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<(), KeyError> {
        self.display(v);
        Ok(())
    }

    fn serialize_i16(self, v: i16) -> Result<(), KeyError> {
        self.display(v);
        Ok(())
    }

    fn serialize_i32(self, v: i32) -> Result<(), KeyError> {
        self.display(v);
        Ok(())
    }

    fn serialize_i64(self, v: i64) -> Result<(), KeyError> {
        self.display(v);
        Ok(())
    }

    fn serialize_i128(self, v: i128) -> Result<(), KeyError> {
        self.display(v);
        Ok(())
    }

    fn serialize_u8(self, v: u8) -> Result<(), KeyError> {
        self.display(v);
        Ok(())
    }

    fn serialize_u16(self, v: u16) -> Result<(), KeyError> {
        self.display(v);
        Ok(())
    }

    fn serialize_u32(self, v: u32) -> Result<(), KeyError> {
        self.display(v);
        Ok(())
    }

    fn serialize_u64(self, v: u64) -> Result<(), KeyError> {
        self.display(v);
        Ok(())
    }

    fn serialize_u128(self, v: u128) -> Result<(), KeyError> {
        self.display(v);
        Ok(())
    }

    fn serialize_f32(self, v: f32) -> Result<(), KeyError> {
        // Display is the shortest form that reads back as the same number.
        self.display(v);
        Ok(())
    }

    fn serialize_f64(self, v: f64) -> Result<(), KeyError> {
        self.display(v);
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), KeyError> {
        self.quoted('\'', v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), KeyError> {
        self.quoted('"', v);
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), KeyError> {
        use fmt::Write as _;
        let out = self.plain();
        out.push_str("0x");
        for byte in v {
            let _ = write!(out, "{byte:02x}");
        }
        Ok(())
    }

    fn serialize_none(self) -> Result<(), KeyError> {
        if std::mem::take(&mut self.in_some) {
            self.out.push('?');
        }
        self.out.push_str("null");
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), KeyError> {
        if std::mem::take(&mut self.in_some) {
            self.out.push('?');
        }
        self.in_some = true;
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), KeyError> {
        self.plain().push_str("()");
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), KeyError> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), KeyError> {
        self.plain().push_str(variant);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), KeyError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), KeyError> {
        let out = self.plain();
        out.push_str(variant);
        out.push('(');
        value.serialize(&mut *self)?;
        self.out.push(')');
        Ok(())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, KeyError> {
        Ok(self.open("", '[', ']'))
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, KeyError> {
        Ok(self.open("", '(', ')'))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, KeyError> {
        Ok(self.open("", '(', ')'))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, KeyError> {
        Ok(self.open(variant, '(', ')'))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, KeyError> {
        self.in_some = false;
        Ok(MapWriter {
            writer: self,
            entries: Vec::new(),
        })
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct, KeyError> {
        Ok(self.open("", '{', '}'))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, KeyError> {
        Ok(self.open(variant, '{', '}'))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::Cache;

    #[test]
    fn readable_keys_are_canonical_and_unambiguous() {
        #[derive(Serialize)]
        struct Query {
            page: Option<u32>,
            sort: Option<String>,
            filters: HashMap<String, String>,
        }
        #[derive(Serialize)]
        enum Kind {
            Plain,
            Sized(u8),
            Pair(u8, u8),
            Named { a: bool },
        }
        let key = |value: &dyn erased::Key| value.readable();

        let mut filters = HashMap::new();
        for (k, v) in [("z", "1"), ("a", "2"), ("m", "3"), ("b", "4")] {
            filters.insert(k.to_owned(), v.to_owned());
        }
        let query = Query {
            page: Some(2),
            sort: None,
            filters,
        };
        assert_eq!(
            key(&query),
            r#"{page:2,sort:null,filters:{"a":"2","b":"4","m":"3","z":"1"}}"#
        );
        assert_eq!(key(&("ab", "c")), r#"("ab","c")"#);
        assert_ne!(key(&("ab", "c")), key(&("a", "bc")));
        assert_eq!(key(&r#"a"b\c"#), r#""a\"b\\c""#);
        assert_ne!(key(&vec!["a,b"]), key(&vec!["a", "b"]));
        assert_eq!(key(&None::<Option<u8>>), "null");
        assert_eq!(key(&Some(None::<u8>)), "?null");
        assert_eq!(key(&Some(Some(1u8))), "?1");
        assert_eq!(key(&Some(1u8)), "1");
        assert_eq!(key(&vec![Some(1u8), None]), "[1,null]");
        assert_eq!(key(&'x'), "'x'");
        assert_eq!(key(&-1.5f64), "-1.5");
        assert_eq!(key(&()), "()");
        assert_eq!(
            key(&[
                Kind::Plain,
                Kind::Sized(1),
                Kind::Pair(1, 2),
                Kind::Named { a: true }
            ]),
            "(Plain,Sized(1),Pair(1,2),Named{a:true})"
        );
        assert_eq!(key(&serde_bytes_like(&[0, 255])), "0x00ff");

        // Hashed with the namespace: the same memo key in two namespaces differs.
        let cache = Cache::new();
        assert_ne!(cache.memo("a").key(&1).unwrap(), cache.memo("b").key(&1).unwrap());
        assert_eq!(cache.memo("a").key(&1).unwrap().readable(), "memo a 1");
    }

    fn serde_bytes_like(bytes: &'static [u8]) -> impl Serialize {
        struct Bytes(&'static [u8]);
        impl Serialize for Bytes {
            fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(self.0)
            }
        }
        Bytes(bytes)
    }

    /// `&dyn` access to `readable_key` for heterogeneous test cases.
    mod erased {
        pub(super) trait Key {
            fn readable(&self) -> String;
        }
        impl<T: serde::Serialize> Key for T {
            fn readable(&self) -> String {
                super::readable_key(self).unwrap()
            }
        }
    }
}
