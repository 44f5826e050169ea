//! Kubernetes protobuf bodies (`application/vnd.kubernetes.protobuf`), decoded into the object a
//! JSON client would have sent. kubectl's imperative commands (`create namespace`, `create
//! deployment`, `run`, `expose`, ...) send nothing else, and do not retry in JSON after a 415.
//!
//! A body is the magic `k8s\0` and a `runtime.Unknown` message: `typeMeta` (`apiVersion`, `kind`)
//! and `raw`, the typed object. The generated [`super::protobuf_schema`] gives each message's
//! fields by number; [`wire`] reads the wire format; this file walks the schema and spells every
//! value as Kubernetes' JSON does.

use base64::Engine as _;
use chrono::DateTime;
use serde_json::{Map, Number, Value};

use super::DecodeError;
use super::protobuf_schema::ROOTS;

mod wire;

use wire::{Error, Reader, Wire};

/// The media type of Kubernetes protobuf bodies.
const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// What every Kubernetes protobuf body starts with (apimachinery's runtime/serializer/protobuf).
const MAGIC: &[u8] = b"k8s\0";

/// One protobuf message of the schema.
#[derive(Debug)]
pub(super) struct Message {
    /// The full protobuf name, for messages (`k8s.io.api.core.v1.Pod`).
    pub(super) name: &'static str,
    /// The fields, by ascending number.
    pub(super) fields: &'static [Field],
}

impl Message {
    fn field(&self, tag: u32) -> Option<&Field> {
        self.fields
            .binary_search_by_key(&tag, |f| f.tag)
            .ok()
            .map(|i| &self.fields[i])
    }
}

/// One field of a message.
#[derive(Debug)]
pub(super) struct Field {
    /// The field number.
    pub(super) tag: u32,
    /// The JSON name; empty for an embedded struct.
    pub(super) json: &'static str,
    /// How the value is encoded and spelled.
    pub(super) kind: Kind,
    /// How many values, and what a zero means.
    pub(super) card: Card,
}

/// How many values a field holds, and whether a zero on the wire is a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Card {
    /// One value, kept whatever it is: Go holds the field in a pointer, or writes it in JSON even
    /// when zero.
    Set,
    /// One value, dropped when zero: Go writes the zero of a plain field on the wire, where JSON's
    /// `omitempty` would leave it out, and the two must decode alike.
    OmitZero,
    /// A list, or a map (its entries are repeated on the wire).
    Repeated,
    /// A Go embedded struct: its fields belong to the enclosing JSON object.
    Inline,
}

/// How a value is encoded on the wire and spelled in JSON.
#[derive(Debug)]
#[allow(
    dead_code,
    reason = "the table uses only what its messages need; the decoder handles every kind, so a \
              table regenerated for more kinds needs no change here"
)]
pub(super) enum Kind {
    /// UTF-8 text.
    String,
    /// Bytes, spelled in base64 as Go's `[]byte`.
    Bytes,
    /// A boolean varint.
    Bool,
    /// A varint read as a signed 32-bit integer.
    Int32,
    /// A varint read as a signed 64-bit integer.
    Int64,
    /// A 64-bit float.
    Double,
    /// A nested message, spelled as an object.
    Message(&'static Message),
    /// A `map<string, V>`, spelled as an object.
    Map(&'static Kind),
    /// `metav1.Time` (`seconds`, `nanos`): RFC 3339 to the second.
    Time,
    /// `metav1.MicroTime`: RFC 3339 to the microsecond.
    MicroTime,
    /// `metav1.Duration` (nanoseconds): Go's duration text, `1m30s`.
    Duration,
    /// `resource.Quantity`: its string.
    Quantity,
    /// `intstr.IntOrString`: a number or a string.
    IntOrString,
    /// `runtime.RawExtension`: the embedded object.
    RawExtension,
    /// `metav1.FieldsV1`: the embedded JSON.
    FieldsV1,
}

/// True when `content_type` names Kubernetes protobuf (parameters aside).
pub(super) fn is_protobuf(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case(MEDIA_TYPE)
    })
}

/// Decodes a Kubernetes protobuf body into the JSON object Kubernetes would write for it,
/// `apiVersion` and `kind` first. Fields the schema does not know are skipped, as a JSON decoder
/// would drop them.
pub fn decode_protobuf(body: &[u8]) -> Result<Value, DecodeError> {
    decode_envelope(body).map_err(|e| DecodeError::Protobuf {
        message: e.to_string(),
    })
}

fn decode_envelope(body: &[u8]) -> Result<Value, Error> {
    let Some(unknown) = body.strip_prefix(MAGIC) else {
        return Err(Error::new(format!(
            "the body does not start with the Kubernetes protobuf magic \"k8s\\0\" (it starts \
             with {:?})",
            String::from_utf8_lossy(&body[..body.len().min(4)])
        )));
    };
    let envelope = Envelope::read(unknown)?;
    if !envelope.content_encoding.is_empty() {
        return Err(Error::new(format!(
            "contentEncoding {:?} is not supported: send the object unencoded",
            envelope.content_encoding
        )));
    }
    let (api_version, kind) = (envelope.api_version, envelope.kind);
    let Some(&(_, _, message)) = ROOTS
        .iter()
        .find(|(v, k, _)| *k == kind && (*v == "*" || *v == api_version))
    else {
        return Err(Error::new(format!(
            "no protobuf schema for apiVersion {api_version:?}, kind {kind:?}: send it as JSON \
             or YAML"
        )));
    };
    let mut object = Map::new();
    object.insert("apiVersion".into(), Value::String(api_version));
    object.insert("kind".into(), Value::String(kind));
    read_message(message, envelope.raw, &mut object)?;
    Ok(Value::Object(object))
}

/// `runtime.Unknown`: 1 typeMeta {1 apiVersion, 2 kind}, 2 raw, 3 contentEncoding, 4 contentType.
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
}

impl<'a> Envelope<'a> {
    fn read(bytes: &'a [u8]) -> Result<Self, Error> {
        let mut envelope = Envelope {
            api_version: String::new(),
            kind: String::new(),
            raw: &[],
            content_encoding: String::new(),
        };
        let mut r = Reader::new(bytes);
        while let Some((tag, wire)) = r.key()? {
            match tag {
                1 => {
                    let mut meta = Reader::new(r.bytes(wire)?);
                    while let Some((tag, wire)) = meta.key()? {
                        match tag {
                            1 => envelope.api_version = meta.string(wire)?,
                            2 => envelope.kind = meta.string(wire)?,
                            _ => meta.skip(wire)?,
                        }
                    }
                }
                2 => envelope.raw = r.bytes(wire)?,
                3 => envelope.content_encoding = r.string(wire)?,
                _ => r.skip(wire)?,
            }
        }
        Ok(envelope)
    }
}

/// Reads the fields of `message` from `bytes` into `out`, skipping numbers it does not know.
fn read_message(
    message: &Message,
    bytes: &[u8],
    out: &mut Map<String, Value>,
) -> Result<(), Error> {
    let mut r = Reader::new(bytes);
    while let Some((tag, wire)) = r.key()? {
        match message.field(tag) {
            Some(field) => read_field(field, wire, &mut r, out).map_err(|e| e.at(field.json))?,
            None => r.skip(wire)?,
        }
    }
    Ok(())
}

fn read_field(
    field: &Field,
    wire: Wire,
    r: &mut Reader,
    out: &mut Map<String, Value>,
) -> Result<(), Error> {
    match (field.card, &field.kind) {
        (Card::Inline, Kind::Message(inner)) => read_message(inner, r.bytes(wire)?, out),
        (_, Kind::Map(value_kind)) => {
            let (key, value) = map_entry(value_kind, r.bytes(wire)?)?;
            let map = object_at(out, field.json);
            if let Some(value) = value {
                map.insert(key, value);
            }
            Ok(())
        }
        (Card::Repeated, kind) => {
            let list = array_at(out, field.json);
            // Lists of numbers may come packed into one length-delimited record.
            if wire == Wire::Len && kind.wire() != Wire::Len {
                let mut packed = Reader::new(r.bytes(wire)?);
                while !packed.at_end() {
                    let index = list.len();
                    let value =
                        read_value(kind, kind.wire(), &mut packed).map_err(|e| e.index(index))?;
                    list.push(value.unwrap_or(Value::Null));
                }
            } else {
                let index = list.len();
                let value = read_value(kind, wire, r).map_err(|e| e.index(index))?;
                list.push(value.unwrap_or(Value::Null));
            }
            Ok(())
        }
        (_, Kind::Message(inner)) => {
            // A message given twice is merged, as protobuf says.
            read_message(inner, r.bytes(wire)?, object_at(out, field.json))
        }
        (card, kind) => {
            match read_value(kind, wire, r)? {
                Some(value) if card == Card::OmitZero && is_zero(&value) => {}
                Some(value) => {
                    out.insert(field.json.to_string(), value);
                }
                None => {}
            }
            Ok(())
        }
    }
}

/// A `map<string, V>` entry: key 1, value 2.
fn map_entry(value_kind: &Kind, bytes: &[u8]) -> Result<(String, Option<Value>), Error> {
    let mut r = Reader::new(bytes);
    let (mut key, mut value) = (String::new(), None);
    while let Some((tag, wire)) = r.key()? {
        match tag {
            1 => key = r.string(wire)?,
            2 => value = read_value(value_kind, wire, &mut r)?,
            _ => r.skip(wire)?,
        }
    }
    // An entry without its value holds the value's zero.
    Ok((key, value.or_else(|| zero_of(value_kind))))
}

/// Reads one value of `kind`; `None` for a value JSON leaves out (a zero `Time`).
fn read_value(kind: &Kind, wire: Wire, r: &mut Reader) -> Result<Option<Value>, Error> {
    if wire != kind.wire() {
        return Err(Error::new(format!(
            "wire type {wire:?} where {:?} ({}) was expected",
            kind.wire(),
            kind.describe()
        )));
    }
    let value = match kind {
        Kind::String => Value::String(r.string(wire)?),
        Kind::Bytes => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(r.bytes(wire)?))
        }
        Kind::Bool => Value::Bool(r.varint()? != 0),
        // A negative int32 is sign-extended to ten bytes on the wire; truncation recovers it.
        Kind::Int32 => Value::from(r.varint()? as i32),
        Kind::Int64 => Value::from(r.varint()? as i64),
        Kind::Double => {
            let x = f64::from_bits(r.fixed64()?);
            Value::Number(
                Number::from_f64(x)
                    .ok_or_else(|| Error::new(format!("{x} is not a JSON number")))?,
            )
        }
        Kind::Message(message) => {
            let mut object = Map::new();
            read_message(message, r.bytes(wire)?, &mut object)?;
            Value::Object(object)
        }
        Kind::Map(_) => return Err(Error::new("a map inside a map or a list".to_string())),
        Kind::Time | Kind::MicroTime => {
            return timestamp(r.bytes(wire)?, matches!(kind, Kind::MicroTime));
        }
        Kind::Duration => Value::String(go_duration(int64_field(r.bytes(wire)?, 1)?)),
        Kind::Quantity => {
            // A Quantity always marshals its canonical string; a missing one is the zero, "0".
            let text = string_field(r.bytes(wire)?, 1)?;
            Value::String(text.unwrap_or_else(|| "0".to_string()))
        }
        Kind::IntOrString => int_or_string(r.bytes(wire)?)?,
        Kind::RawExtension | Kind::FieldsV1 => return embedded(r.bytes(wire)?),
    };
    Ok(Some(value))
}

/// The zero of a map value that the entry left out.
fn zero_of(kind: &Kind) -> Option<Value> {
    match kind {
        Kind::String | Kind::Bytes => Some(Value::String(String::new())),
        Kind::Bool => Some(Value::Bool(false)),
        Kind::Int32 | Kind::Int64 | Kind::Double => Some(Value::from(0)),
        Kind::Quantity => Some(Value::String("0".to_string())),
        Kind::Message(_) => Some(Value::Object(Map::new())),
        _ => None,
    }
}

fn is_zero(value: &Value) -> bool {
    match value {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

fn object_at<'m>(out: &'m mut Map<String, Value>, key: &str) -> &'m mut Map<String, Value> {
    let slot = out.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut().expect("just made an object")
}

fn array_at<'m>(out: &'m mut Map<String, Value>, key: &str) -> &'m mut Vec<Value> {
    let slot = out.entry(key).or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        *slot = Value::Array(Vec::new());
    }
    slot.as_array_mut().expect("just made an array")
}

/// `Time` and `MicroTime` ({1 seconds, 2 nanos}) as Go's `MarshalJSON` writes them, in UTC. An
/// empty message is Go's zero time, which JSON leaves out (`creationTimestamp` is `omitzero`).
/// `Time` drops the nanoseconds, as its protobuf `Unmarshal` does.
fn timestamp(bytes: &[u8], micro: bool) -> Result<Option<Value>, Error> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let (mut seconds, mut nanos) = (0i64, 0i64);
    let mut r = Reader::new(bytes);
    while let Some((tag, wire)) = r.key()? {
        match (tag, wire) {
            (1, Wire::Varint) => seconds = r.varint()? as i64,
            (2, Wire::Varint) => nanos = i64::from(r.varint()? as i32),
            _ => r.skip(wire)?,
        }
    }
    let nanos = if micro { nanos } else { 0 };
    let time = u32::try_from(nanos)
        .ok()
        .and_then(|n| DateTime::from_timestamp(seconds, n))
        .ok_or_else(|| Error::new(format!("{seconds}s {nanos}ns is not a time")))?;
    let format = if micro {
        "%Y-%m-%dT%H:%M:%S%.6fZ"
    } else {
        "%Y-%m-%dT%H:%M:%SZ"
    };
    Ok(Some(Value::String(time.format(format).to_string())))
}

/// `IntOrString` ({1 type, 2 intVal, 3 strVal}): type 0 is the number, type 1 the string.
fn int_or_string(bytes: &[u8]) -> Result<Value, Error> {
    let (mut is_string, mut int, mut string) = (false, 0i32, String::new());
    let mut r = Reader::new(bytes);
    while let Some((tag, wire)) = r.key()? {
        match (tag, wire) {
            (1, Wire::Varint) => is_string = r.varint()? == 1,
            (2, Wire::Varint) => int = r.varint()? as i32,
            (3, Wire::Len) => string = r.string(wire)?,
            _ => r.skip(wire)?,
        }
    }
    Ok(if is_string {
        Value::String(string)
    } else {
        Value::from(int)
    })
}

/// `RawExtension` and `FieldsV1` ({1 raw}): the JSON they carry, or a nested protobuf object.
fn embedded(bytes: &[u8]) -> Result<Option<Value>, Error> {
    let Some(raw) = bytes_field(bytes, 1)? else {
        return Ok(None);
    };
    if raw.is_empty() {
        return Ok(None);
    }
    if raw.starts_with(MAGIC) {
        return decode_envelope(raw).map(Some);
    }
    serde_json::from_slice(raw).map(Some).map_err(|e| {
        Error::new(format!(
            "the embedded object is neither JSON nor protobuf: {e}"
        ))
    })
}

fn bytes_field(bytes: &[u8], want: u32) -> Result<Option<&[u8]>, Error> {
    let mut r = Reader::new(bytes);
    let mut found = None;
    while let Some((tag, wire)) = r.key()? {
        if tag == want && wire == Wire::Len {
            found = Some(r.bytes(wire)?);
        } else {
            r.skip(wire)?;
        }
    }
    Ok(found)
}

fn string_field(bytes: &[u8], want: u32) -> Result<Option<String>, Error> {
    Ok(bytes_field(bytes, want)?.map(|b| String::from_utf8_lossy(b).into_owned()))
}

fn int64_field(bytes: &[u8], want: u32) -> Result<i64, Error> {
    let mut r = Reader::new(bytes);
    let mut found = 0;
    while let Some((tag, wire)) = r.key()? {
        if tag == want && wire == Wire::Varint {
            found = r.varint()? as i64;
        } else {
            r.skip(wire)?;
        }
    }
    Ok(found)
}

/// A duration in nanoseconds as Go's `time.Duration.String` writes it: `1h2m3.5s`, `1.5ms`, `0s`.
fn go_duration(nanos: i64) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    // The fraction of `v / 10^digits`, without trailing zeros, and without the point when zero.
    let frac = |v: u64, digits: usize| {
        let text = format!("{:0digits$}", v % 10u64.pow(digits as u32));
        let text = text.trim_end_matches('0');
        if text.is_empty() {
            String::new()
        } else {
            format!(".{text}")
        }
    };
    if u == 0 {
        return "0s".to_string();
    }
    if u < 1_000 {
        return format!("{sign}{u}ns");
    }
    if u < 1_000_000 {
        return format!("{sign}{}{}µs", u / 1_000, frac(u, 3));
    }
    if u < 1_000_000_000 {
        return format!("{sign}{}{}ms", u / 1_000_000, frac(u, 6));
    }
    let seconds = u / 1_000_000_000;
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let s = format!("{s}{}s", frac(u, 9));
    match (h, seconds / 60) {
        (0, 0) => format!("{sign}{s}"),
        (0, _) => format!("{sign}{m}m{s}"),
        _ => format!("{sign}{h}h{m}m{s}"),
    }
}

impl Kind {
    /// The kind in words, for messages.
    fn describe(&self) -> String {
        match self {
            Kind::Message(m) => format!("message {}", m.name),
            Kind::Map(v) => format!("map of {}", v.describe()),
            other => format!("{other:?}"),
        }
    }

    /// The wire type a single value of this kind is written with.
    fn wire(&self) -> Wire {
        match self {
            Kind::Bool | Kind::Int32 | Kind::Int64 => Wire::Varint,
            Kind::Double => Wire::Fixed64,
            _ => Wire::Len,
        }
    }
}

#[cfg(test)]
mod tests;
