//! A serde `Serializer` that writes YAML straight into a `String`, with the
//! same layout and quoting as the value writer its tests compare with
//! (`yaml::reference`), but without building an intermediate
//! `serde_json::Value` (which costs an allocation per key and node:
//! noticeable at 100,000 objects). It is the one YAML writer of the backends.
//!
//! Layout decisions wait for the next event: after `key:` or `-` the writer
//! does not know yet whether a scalar, a non-empty collection or an empty
//! one follows, so it keeps that as [`Pending`] until it does.

use super::yaml::{write_block_string_into, write_str_into};
use serde::ser::{self, Serialize};
use std::fmt;

#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// What the last write left open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// Nothing: a value here is a whole document.
    Root,
    /// `key:` written; the value's children go at `level`.
    Key(usize),
    /// `-` written; the item's children go at `level`.
    Dash(usize),
}

pub struct Writer {
    out: String,
    pending: Pending,
    /// Put conventional keys first (see [`to_string_tidy`]).
    tidy: bool,
    /// Where each key of the open maps starts in `out` (a stack shared by
    /// the nested maps, so reordering allocates nothing per map).
    starts: Vec<usize>,
    /// Reused by key reordering.
    scratch: String,
    /// An Ansible file: every string holding `{` is tagged `!unsafe`.
    ansible: bool,
    /// The next string is an [`AnsibleUnsafe`](super::escape::AnsibleUnsafe).
    unsafe_next: bool,
    /// The next string is an [`AnsibleTemplate`](super::escape::AnsibleTemplate).
    template_next: bool,
}

fn indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

impl Writer {
    fn scalar(&mut self, text: &str) {
        match self.pending {
            Pending::Root => {}
            Pending::Key(_) | Pending::Dash(_) => self.out.push(' '),
        }
        self.out.push_str(text);
        self.out.push('\n');
        self.pending = Pending::Root;
    }

    /// `!unsafe ` before a string Ansible would otherwise template.
    fn tag(&mut self, s: &str) -> &'static str {
        let tagged =
            (self.ansible || self.unsafe_next) && !self.template_next && super::escape::ansible_needs_unsafe(s);
        self.unsafe_next = false;
        self.template_next = false;
        if tagged {
            "!unsafe "
        } else {
            ""
        }
    }

    fn string(&mut self, s: &str) {
        let tag = self.tag(s);
        if s.contains('\n') {
            let level = match self.pending {
                Pending::Key(l) | Pending::Dash(l) => l,
                Pending::Root => 0,
            };
            if self.pending == Pending::Root {
                // A top-level multi-line string: quoted is simplest.
                self.out.push_str(tag);
                write_str_into(&mut self.out, s);
                self.out.push('\n');
            } else {
                if !tag.is_empty() {
                    self.out.push(' ');
                    self.out.push_str(tag.trim_end());
                }
                write_block_string_into(&mut self.out, s, level);
            }
            self.pending = Pending::Root;
            return;
        }
        match self.pending {
            Pending::Root => {}
            Pending::Key(_) | Pending::Dash(_) => self.out.push(' '),
        }
        self.out.push_str(tag);
        write_str_into(&mut self.out, s);
        self.out.push('\n');
        self.pending = Pending::Root;
    }
}

pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    let mut out = String::with_capacity(1024);
    append(&mut out, value, false)?;
    Ok(out)
}

/// Append one document to `out`. With `tidy`, keys come in the order
/// readers of Kubernetes manifests expect, whatever order the type
/// serializes them in (k8s-openapi writes fields alphabetically):
/// `apiVersion`, `kind`, `metadata`, `spec` first in the document's
/// top-level map, and `name`, then `namespace`, first in every nested map;
/// every other key keeps its place.
pub fn append<T: Serialize + ?Sized>(out: &mut String, value: &T, tidy: bool) -> Result<(), Error> {
    write(out, value, tidy, false)
}

/// One document of an Ansible data file (inventory, vars): every string
/// holding `{` is tagged `!unsafe`, so no user text is ever templated.
pub fn to_string_ansible<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    let mut out = String::with_capacity(1024);
    write(&mut out, value, false, true)?;
    Ok(out)
}

fn write<T: Serialize + ?Sized>(out: &mut String, value: &T, tidy: bool, ansible: bool) -> Result<(), Error> {
    let mut w = Writer {
        out: std::mem::take(out),
        pending: Pending::Root,
        tidy,
        starts: Vec::new(),
        scratch: String::new(),
        ansible,
        unsafe_next: false,
        template_next: false,
    };
    let r = value.serialize(&mut w);
    *out = w.out;
    r
}

/// The rank of a key that [`append`] with `tidy` puts first, lowest first.
fn priority(top: bool, key: &str) -> Option<u8> {
    if top {
        match key {
            "apiVersion" => Some(0),
            "kind" => Some(1),
            "metadata" => Some(2),
            "spec" => Some(3),
            _ => None,
        }
    } else {
        match key {
            "name" => Some(0),
            "namespace" => Some(1),
            _ => None,
        }
    }
}

/// A map or sequence being written.
pub struct Compound<'a> {
    w: &'a mut Writer,
    /// Where entries or items go.
    level: usize,
    /// Entries written so far.
    count: usize,
    /// How the compound started, to place its first entry.
    start: Pending,
    /// A map (keys) rather than a sequence (items).
    is_map: bool,
    /// This map's key positions are `w.starts[base..]`.
    base: usize,
    /// The highest priority rank seen so far, and whether a plain key was.
    max_rank: Option<u8>,
    seen_plain: bool,
    /// A priority key came after a plain or lower-priority key.
    reorder: bool,
}

impl<'a> Compound<'a> {
    fn begin(w: &'a mut Writer, is_map: bool) -> Compound<'a> {
        let start = w.pending;
        let base = w.starts.len();
        let level = match start {
            Pending::Root => 0,
            Pending::Key(l) => l,
            Pending::Dash(l) => l,
        };
        Compound {
            w,
            level,
            count: 0,
            start,
            is_map,
            base,
            max_rank: None,
            seen_plain: false,
            reorder: false,
        }
    }

    /// Start one entry (a key or an item): settle what the parent left open.
    fn open_entry(&mut self) {
        let first = self.count == 0;
        match (self.start, first, self.is_map) {
            // The first key of a map that is a sequence item stays on the
            // dash's line.
            (Pending::Dash(_), true, true) => self.w.out.push(' '),
            (Pending::Key(_), true, _) | (Pending::Dash(_), true, false) => {
                self.w.out.push('\n');
                indent(&mut self.w.out, self.level);
            }
            _ => indent(&mut self.w.out, self.level),
        }
        self.count += 1;
    }

    fn key(&mut self, key: &str) {
        self.open_entry();
        if self.w.tidy {
            self.w.starts.push(self.w.out.len());
            match priority(self.start == Pending::Root, key) {
                Some(r) => {
                    if self.seen_plain || self.max_rank.is_some_and(|m| m > r) {
                        self.reorder = true;
                    }
                    self.max_rank = Some(self.max_rank.map_or(r, |m| m.max(r)));
                }
                None => self.seen_plain = true,
            }
        }
        let tag = self.w.tag(key);
        self.w.out.push_str(tag);
        write_str_into(&mut self.w.out, key);
        self.w.out.push(':');
        self.w.pending = Pending::Key(self.level + 2);
    }

    /// Move the priority keys of this map to its front (see [`append`]).
    /// Every entry after the first is its indentation, then the entry's text
    /// (key, value, final newline); entries are swapped as whole texts.
    fn reorder_keys(&mut self) {
        let starts = self.w.starts.get(self.base..).unwrap_or_default();
        let (Some(&first), true) = (starts.first(), starts.len() > 1) else {
            return;
        };
        let top = self.start == Pending::Root;
        let out = &self.w.out;
        let level = self.level;
        let span = |i: usize| -> (usize, usize) {
            let s = starts.get(i).copied().unwrap_or(out.len());
            let end = starts.get(i + 1).map_or(out.len(), |&next| next - level);
            (s, end)
        };
        // Keys that need quotes never have a priority, so the raw text up
        // to the colon is the key when it matters.
        let rank = |(s, end): (usize, usize)| {
            let text = out.get(s..end).unwrap_or_default();
            let key_end = text.find(':').unwrap_or(text.len());
            priority(top, text.get(..key_end).unwrap_or_default())
        };
        if rank(span(0)).is_none() {
            // The usual case (`name` after other keys): lift the few
            // priority entries out and put them in front, leaving the rest
            // where it is. Entry k > 0 is `indent + text`.
            let mut lifted: Vec<(u8, usize, usize)> = Vec::new();
            for i in 1..starts.len() {
                if let Some(r) = rank(span(i)) {
                    let (s, end) = span(i);
                    lifted.push((r, s, end));
                }
            }
            lifted.sort_by_key(|(r, _, _)| *r);
            let mut front = std::mem::take(&mut self.w.scratch);
            front.clear();
            for (_, s, end) in &lifted {
                front.push_str(out.get(*s..*end).unwrap_or_default());
                indent(&mut front, level);
            }
            // Remove from the last one back, each with its indentation.
            lifted.sort_by_key(|(_, s, _)| std::cmp::Reverse(*s));
            for (_, s, end) in lifted {
                self.w.out.replace_range(s - level..end, "");
            }
            self.w.out.insert_str(first, &front);
            self.w.scratch = front;
            return;
        }
        let mut entries: Vec<(u8, &str)> = Vec::with_capacity(starts.len());
        for i in 0..starts.len() {
            let (s, end) = span(i);
            entries.push((rank((s, end)).unwrap_or(u8::MAX), out.get(s..end).unwrap_or_default()));
        }
        entries.sort_by_key(|(rank, _)| *rank);
        let mut region = String::with_capacity(out.len() - first);
        for (i, (_, text)) in entries.iter().enumerate() {
            if i > 0 {
                indent(&mut region, level);
            }
            region.push_str(text);
        }
        self.w.out.truncate(first);
        self.w.out.push_str(&region);
    }

    fn finish(mut self, empty: &str) {
        if self.reorder {
            self.reorder_keys();
        }
        if self.w.tidy {
            self.w.starts.truncate(self.base);
        }
        if self.count == 0 {
            match self.start {
                Pending::Root => {
                    self.w.out.push_str(empty);
                    self.w.out.push('\n');
                }
                _ => {
                    self.w.out.push(' ');
                    self.w.out.push_str(empty);
                    self.w.out.push('\n');
                }
            }
        }
        self.w.pending = Pending::Root;
    }
}

macro_rules! display_scalar {
    ($($name:ident: $ty:ty),*) => {
        $(fn $name(self, v: $ty) -> Result<(), Error> {
            self.scalar(&v.to_string());
            Ok(())
        })*
    };
}

impl<'a> ser::Serializer for &'a mut Writer {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = MapCompound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    display_scalar!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64, serialize_i128: i128,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64, serialize_u128: u128);

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.scalar(if v { "true" } else { "false" });
        Ok(())
    }

    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.serialize_f64(f64::from(v))
    }

    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        match serde_json::Number::from_f64(v) {
            Some(n) => self.scalar(&n.to_string()),
            None => self.scalar("null"),
        }
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.string(&v.to_string());
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.string(v);
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        use ser::SerializeSeq;
        let mut s = self.serialize_seq(Some(v.len()))?;
        for b in v {
            s.serialize_element(b)?;
        }
        s.end()
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.scalar("null");
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        self.scalar("null");
        Ok(())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), Error> {
        self.string(variant);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, name: &'static str, value: &T) -> Result<(), Error> {
        self.unsafe_next = name == super::escape::ANSIBLE_UNSAFE;
        self.template_next = name == super::escape::ANSIBLE_TEMPLATE;
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        let mut c = Compound::begin(self, true);
        c.key(variant);
        value.serialize(&mut *c.w)?;
        c.finish("{}");
        Ok(())
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a>, Error> {
        Ok(Compound::begin(self, false))
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'a>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Compound<'a>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Error> {
        Err(Error("tuple variants are not supported".into()))
    }

    fn serialize_map(self, _: Option<usize>) -> Result<MapCompound<'a>, Error> {
        Ok(MapCompound {
            inner: Compound::begin(self, true),
        })
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Error> {
        Ok(Compound::begin(self, true))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Error> {
        Err(Error("struct variants are not supported".into()))
    }
}

impl ser::SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.open_entry();
        self.w.out.push('-');
        self.w.pending = Pending::Dash(self.level + 2);
        value.serialize(&mut *self.w)
    }

    fn end(self) -> Result<(), Error> {
        self.finish("[]");
        Ok(())
    }
}

impl ser::SerializeTuple for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result<(), Error> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result<(), Error> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleVariant for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result<(), Error> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        self.key(key);
        value.serialize(&mut *self.w)
    }

    fn end(self) -> Result<(), Error> {
        self.finish("{}");
        Ok(())
    }
}

impl ser::SerializeStructVariant for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }

    fn end(self) -> Result<(), Error> {
        ser::SerializeStruct::end(self)
    }
}

/// Maps need their keys turned into strings first.
pub struct MapCompound<'a> {
    inner: Compound<'a>,
}

impl ser::SerializeMap for MapCompound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        let k = key.serialize(KeySerializer)?;
        self.inner.key(&k);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut *self.inner.w)
    }

    fn end(self) -> Result<(), Error> {
        self.inner.finish("{}");
        Ok(())
    }
}

/// Turns a map key into its text.
struct KeySerializer;

macro_rules! key_display {
    ($($name:ident: $ty:ty),*) => {
        $(fn $name(self, v: $ty) -> Result<String, Error> { Ok(v.to_string()) })*
    };
}

macro_rules! key_unsupported {
    ($($name:ident($($arg:ty),*) -> $ret:ty),*) => {
        $(fn $name(self, $(_: $arg),*) -> Result<$ret, Error> { Err(Error("map keys must be strings".into())) })*
    };
}

impl ser::Serializer for KeySerializer {
    type Ok = String;
    type Error = Error;
    type SerializeSeq = ser::Impossible<String, Error>;
    type SerializeTuple = ser::Impossible<String, Error>;
    type SerializeTupleStruct = ser::Impossible<String, Error>;
    type SerializeTupleVariant = ser::Impossible<String, Error>;
    type SerializeMap = ser::Impossible<String, Error>;
    type SerializeStruct = ser::Impossible<String, Error>;
    type SerializeStructVariant = ser::Impossible<String, Error>;

    key_display!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64, serialize_char: char);

    fn serialize_str(self, v: &str) -> Result<String, Error> {
        Ok(v.to_string())
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<String, Error> {
        Ok(variant.to_string())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<String, Error> {
        value.serialize(self)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<String, Error> {
        value.serialize(self)
    }

    key_unsupported!(serialize_f32(f32) -> String, serialize_f64(f64) -> String, serialize_bytes(&[u8]) -> String,
        serialize_none() -> String, serialize_unit() -> String, serialize_unit_struct(&'static str) -> String);

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, Error> {
        Err(Error("map keys must be strings".into()))
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(Error("map keys must be strings".into()))
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        Err(Error("map keys must be strings".into()))
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, Error> {
        Err(Error("map keys must be strings".into()))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(Error("map keys must be strings".into()))
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(Error("map keys must be strings".into()))
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Error> {
        Err(Error("map keys must be strings".into()))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(Error("map keys must be strings".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The streaming writer and the value writer agree on every shape.
    #[test]
    fn streaming_matches_value_writer() {
        let samples = vec![
            serde_json::json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "x", "labels": {"camera": "yes"}, "annotations": {}},
                "data": {"MODE": "on", "SCRIPT": "a\nb\n", "N": "0755"},
                "list": [{"name": "a", "value": "0755", "deep": {"k": [1, 2]}}, "plain", ["inner", {"x": {}}], [], {}],
                "empty": {},
                "none": [],
                "n": 3, "f": 0.92, "b": false, "z": null,
            }),
            serde_json::json!([1, "two", {"three": 3}]),
            serde_json::json!("yes"),
            serde_json::json!({}),
        ];
        for v in samples {
            let mut expected = String::new();
            super::super::yaml::reference::write_document(&mut expected, &v);
            let got = to_string(&v).unwrap_or_default();
            assert_eq!(got, expected, "for {v}");
        }
    }

    /// The reference for `tidy`: rebuild the value with the priority keys
    /// moved first, then write it with the value writer.
    fn tidy_value(v: serde_json::Value, top: bool) -> serde_json::Value {
        use serde_json::Value;
        match v {
            Value::Object(mut m) => {
                let first: &[&str] = if top {
                    &["apiVersion", "kind", "metadata", "spec"]
                } else {
                    &["name", "namespace"]
                };
                let mut out = serde_json::Map::new();
                for k in first {
                    if let Some(x) = m.shift_remove(*k) {
                        out.insert((*k).to_string(), x);
                    }
                }
                out.extend(m);
                Value::Object(out.into_iter().map(|(k, x)| (k, tidy_value(x, false))).collect())
            }
            Value::Array(a) => Value::Array(a.into_iter().map(|x| tidy_value(x, false)).collect()),
            other => other,
        }
    }

    #[test]
    fn tidy_moves_conventional_keys_first() {
        let samples = vec![
            serde_json::json!({
                "apiVersion": "v1", "data": {"A": "1", "name": "x"}, "kind": "ConfigMap",
                "metadata": {"annotations": {"a": "b"}, "labels": {}, "name": "cm", "namespace": "ns"},
            }),
            serde_json::json!({
                "spec": {"containers": [
                    {"image": "i", "ports": [{"containerPort": 1, "name": "tcp"}], "name": "c"},
                    {"name": "d", "env": [{"value": "multi\nline\n", "name": "X"}]},
                    {"namespace": "n", "b": {}, "name": "e"}
                ], "volumes": [], "name": "s"},
                "metadata": {"namespace": "ns", "name": "p"},
                "kind": "Pod", "apiVersion": "v1", "status": {}
            }),
            serde_json::json!([{"b": 1, "name": "first"}, {"name": "already"}]),
            serde_json::json!({"only": {"name": "x"}}),
        ];
        for v in samples {
            let mut expected = String::new();
            super::super::yaml::reference::write_document(&mut expected, &tidy_value(v.clone(), v.is_object()));
            let mut got = String::new();
            append(&mut got, &v, true).unwrap();
            assert_eq!(got, expected, "for {v}");
        }
    }
}
