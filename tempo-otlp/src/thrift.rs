//! thrift: what does a Thrift payload say, read without trusting it?
//!
//! Readers of Apache Thrift's binary and compact protocols, as Jaeger clients and agents speak
//! them, over a byte slice held whole in memory. They are small on purpose: a cursor, the
//! protocol's field headers, integers, strings, lists and maps, message headers, and a `skip`
//! for fields a decoder does not know. Nothing here panics on any input: every length is
//! checked against the bytes left before anything is allocated, varints are at most ten bytes,
//! and nesting is bounded by [`MAX_DEPTH`].

/// The deepest nesting of structs, lists and maps a reader follows.
pub const MAX_DEPTH: usize = 64;

/// Why a Thrift payload could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ThriftError {
    /// The payload ended in the middle of a value.
    #[error("Thrift payload truncated at byte {at}")]
    Truncated {
        /// Where the missing value starts.
        at: usize,
    },
    /// A value is not valid for the protocol.
    #[error("invalid Thrift {what} at byte {at}")]
    Invalid {
        /// What was being read.
        what: &'static str,
        /// Where.
        at: usize,
    },
    /// A list, map or string claims more elements than bytes remain.
    #[error("Thrift {what} at byte {at} claims {len} elements, more than the payload holds")]
    TooLong {
        /// What was being read.
        what: &'static str,
        /// Its claimed length.
        len: u64,
        /// Where.
        at: usize,
    },
    /// Structs, lists and maps nest deeper than [`MAX_DEPTH`].
    #[error("Thrift values nest deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// A field the IDL marks required is missing.
    #[error("required field {field} of {strukt} is missing")]
    MissingField {
        /// The struct.
        strukt: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A field holds a value of another type than the IDL says.
    #[error("field {field} of {strukt} has the wrong type")]
    WrongType {
        /// The struct.
        strukt: &'static str,
        /// The field.
        field: &'static str,
    },
    /// The message is not the call expected.
    #[error("unexpected Thrift message: {0}")]
    Message(String),
    /// Bytes are left after the value.
    #[error("{0} bytes left after the Thrift payload")]
    Trailing(usize),
}

/// Which of Thrift's protocols a payload is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThriftProtocol {
    /// `TBinaryProtocol`: big-endian fixed-width integers (Jaeger's HTTP body and UDP 6832).
    Binary,
    /// `TCompactProtocol`: varints and packed field headers (Jaeger's UDP 6831).
    Compact,
}

/// A value's type, as field headers and collection headers name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TType {
    Bool,
    Byte,
    Double,
    I16,
    I32,
    I64,
    Binary,
    Struct,
    Map,
    Set,
    List,
    Uuid,
}

/// The message types of a Thrift message header.
pub(crate) const MESSAGE_CALL: u8 = 1;
pub(crate) const MESSAGE_ONEWAY: u8 = 4;

/// A message header: the method name, its type and sequence ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MessageHeader {
    pub(crate) name: String,
    pub(crate) kind: u8,
}

/// A cursor over the payload, shared by both protocols.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ThriftError> {
        if n > self.remaining() {
            return Err(ThriftError::Truncated { at: self.pos });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ThriftError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, ThriftError> {
        Ok(self.array::<1>()?[0])
    }

    fn varint(&mut self) -> Result<u64, ThriftError> {
        let at = self.pos;
        let mut value = 0u64;
        for i in 0..10 {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ThriftError::Invalid { what: "varint", at })
    }

    /// Checks that `len` elements of at least `min` bytes each can fit in what remains.
    fn check_len(&self, what: &'static str, len: u64, min: usize) -> Result<usize, ThriftError> {
        let need = len.saturating_mul(min as u64);
        if need > self.remaining() as u64 {
            return Err(ThriftError::TooLong {
                what,
                len,
                at: self.pos,
            });
        }
        Ok(len as usize)
    }
}

/// A reader of one of Thrift's protocols.
pub(crate) trait Protocol {
    /// The offset of the next byte.
    fn position(&self) -> usize;
    /// Bytes not read yet.
    fn remaining(&self) -> usize;
    /// A message header (`name`, type, sequence ID).
    fn read_message_begin(&mut self) -> Result<MessageHeader, ThriftError>;
    /// Enters a struct.
    fn read_struct_begin(&mut self) -> Result<(), ThriftError>;
    /// Leaves a struct (after its stop field).
    fn read_struct_end(&mut self);
    /// The next field's type and ID, or `None` at the struct's end.
    fn read_field_begin(&mut self) -> Result<Option<(TType, i16)>, ThriftError>;
    /// A boolean.
    fn read_bool(&mut self) -> Result<bool, ThriftError>;
    /// A signed byte.
    fn read_byte(&mut self) -> Result<i8, ThriftError>;
    /// A 16-bit integer.
    fn read_i16(&mut self) -> Result<i16, ThriftError>;
    /// A 32-bit integer.
    fn read_i32(&mut self) -> Result<i32, ThriftError>;
    /// A 64-bit integer.
    fn read_i64(&mut self) -> Result<i64, ThriftError>;
    /// A double.
    fn read_double(&mut self) -> Result<f64, ThriftError>;
    /// Bytes (Thrift's `binary`, and `string` before UTF-8).
    fn read_binary(&mut self) -> Result<Vec<u8>, ThriftError>;
    /// A list's (or set's) element type and length.
    fn read_list_begin(&mut self) -> Result<(TType, usize), ThriftError>;
    /// A map's key type, value type and length.
    fn read_map_begin(&mut self) -> Result<(TType, TType, usize), ThriftError>;
    /// A UUID (16 bytes in both protocols).
    fn read_uuid(&mut self) -> Result<[u8; 16], ThriftError>;

    /// A string; bytes that are not UTF-8 are replaced, as Thrift's Go reader keeps them.
    fn read_string(&mut self) -> Result<String, ThriftError> {
        let bytes = self.read_binary()?;
        Ok(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }
}

/// Skips a value of type `ty`, nested `depth` levels deep.
pub(crate) fn skip<P: Protocol + ?Sized>(
    p: &mut P,
    ty: TType,
    depth: usize,
) -> Result<(), ThriftError> {
    if depth > MAX_DEPTH {
        return Err(ThriftError::TooDeep);
    }
    match ty {
        TType::Bool => p.read_bool().map(drop),
        TType::Byte => p.read_byte().map(drop),
        TType::Double => p.read_double().map(drop),
        TType::I16 => p.read_i16().map(drop),
        TType::I32 => p.read_i32().map(drop),
        TType::I64 => p.read_i64().map(drop),
        TType::Binary => p.read_binary().map(drop),
        TType::Uuid => p.read_uuid().map(drop),
        TType::Struct => {
            p.read_struct_begin()?;
            while let Some((fty, _)) = p.read_field_begin()? {
                skip(p, fty, depth + 1)?;
            }
            p.read_struct_end();
            Ok(())
        }
        TType::List | TType::Set => {
            let (ety, len) = p.read_list_begin()?;
            for _ in 0..len {
                skip(p, ety, depth + 1)?;
            }
            Ok(())
        }
        TType::Map => {
            let (kty, vty, len) = p.read_map_begin()?;
            for _ in 0..len {
                skip(p, kty, depth + 1)?;
                skip(p, vty, depth + 1)?;
            }
            Ok(())
        }
    }
}

/// Reads a list whose elements must be of type `expected`, each with `item`.
pub(crate) fn read_list<P, T>(
    p: &mut P,
    expected: TType,
    what: &'static str,
    mut item: impl FnMut(&mut P) -> Result<T, ThriftError>,
) -> Result<Vec<T>, ThriftError>
where
    P: Protocol + ?Sized,
{
    let at = p.position();
    let (ety, len) = p.read_list_begin()?;
    if ety != expected && len > 0 {
        return Err(ThriftError::Invalid { what, at });
    }
    // The length was checked against the bytes left; cap the first allocation anyway.
    let mut out = Vec::with_capacity(len.min(p.remaining()).min(1024));
    for _ in 0..len {
        out.push(item(p)?);
    }
    Ok(out)
}

/// `TBinaryProtocol`.
pub(crate) struct BinaryReader<'a> {
    cur: Cursor<'a>,
}

impl<'a> BinaryReader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> BinaryReader<'a> {
        BinaryReader {
            cur: Cursor { buf, pos: 0 },
        }
    }

    fn ttype(b: u8, at: usize) -> Result<TType, ThriftError> {
        Ok(match b {
            2 => TType::Bool,
            3 => TType::Byte,
            4 => TType::Double,
            6 => TType::I16,
            8 => TType::I32,
            10 => TType::I64,
            11 => TType::Binary,
            12 => TType::Struct,
            13 => TType::Map,
            14 => TType::Set,
            15 => TType::List,
            16 => TType::Uuid,
            _ => return Err(ThriftError::Invalid { what: "type", at }),
        })
    }

    fn size(&mut self, what: &'static str, min: usize) -> Result<usize, ThriftError> {
        let at = self.cur.pos;
        let n = self.read_i32()?;
        if n < 0 {
            return Err(ThriftError::Invalid { what, at });
        }
        self.cur.check_len(what, n as u64, min)
    }
}

#[expect(
    clippy::big_endian_bytes,
    reason = "Thrift's binary protocol writes integers big-endian"
)]
impl Protocol for BinaryReader<'_> {
    fn position(&self) -> usize {
        self.cur.pos
    }

    fn remaining(&self) -> usize {
        self.cur.remaining()
    }

    fn read_message_begin(&mut self) -> Result<MessageHeader, ThriftError> {
        let at = self.cur.pos;
        let first = self.read_i32()?;
        if first < 0 {
            // Strict: version 1 in the high half, the type in the low byte.
            let word = first as u32;
            if word & 0xffff_0000 != 0x8001_0000 {
                return Err(ThriftError::Invalid {
                    what: "message version",
                    at,
                });
            }
            let kind = (word & 0xff) as u8;
            let name = self.read_string()?;
            self.read_i32()?;
            Ok(MessageHeader { name, kind })
        } else {
            // Old style: the name's length first, then the name, the type and the ID.
            let len = self.cur.check_len("message name", first as u64, 1)?;
            let name = String::from_utf8_lossy(self.cur.take(len)?).into_owned();
            let kind = self.cur.byte()?;
            self.read_i32()?;
            Ok(MessageHeader { name, kind })
        }
    }

    fn read_struct_begin(&mut self) -> Result<(), ThriftError> {
        Ok(())
    }

    fn read_struct_end(&mut self) {}

    fn read_field_begin(&mut self) -> Result<Option<(TType, i16)>, ThriftError> {
        let at = self.cur.pos;
        let b = self.cur.byte()?;
        if b == 0 {
            return Ok(None);
        }
        let ty = Self::ttype(b, at)?;
        let id = self.read_i16()?;
        Ok(Some((ty, id)))
    }

    fn read_bool(&mut self) -> Result<bool, ThriftError> {
        Ok(self.cur.byte()? != 0)
    }

    fn read_byte(&mut self) -> Result<i8, ThriftError> {
        Ok(self.cur.byte()? as i8)
    }

    fn read_i16(&mut self) -> Result<i16, ThriftError> {
        Ok(i16::from_be_bytes(self.cur.array()?))
    }

    fn read_i32(&mut self) -> Result<i32, ThriftError> {
        Ok(i32::from_be_bytes(self.cur.array()?))
    }

    fn read_i64(&mut self) -> Result<i64, ThriftError> {
        Ok(i64::from_be_bytes(self.cur.array()?))
    }

    fn read_double(&mut self) -> Result<f64, ThriftError> {
        Ok(f64::from_bits(u64::from_be_bytes(self.cur.array()?)))
    }

    fn read_binary(&mut self) -> Result<Vec<u8>, ThriftError> {
        let len = self.size("string length", 1)?;
        Ok(self.cur.take(len)?.to_vec())
    }

    fn read_list_begin(&mut self) -> Result<(TType, usize), ThriftError> {
        let at = self.cur.pos;
        let ty = Self::ttype(self.cur.byte()?, at)?;
        let len = self.size("list length", 1)?;
        Ok((ty, len))
    }

    fn read_map_begin(&mut self) -> Result<(TType, TType, usize), ThriftError> {
        let at = self.cur.pos;
        let kty = Self::ttype(self.cur.byte()?, at)?;
        let vty = Self::ttype(self.cur.byte()?, at + 1)?;
        let len = self.size("map length", 2)?;
        Ok((kty, vty, len))
    }

    fn read_uuid(&mut self) -> Result<[u8; 16], ThriftError> {
        self.cur.array()
    }
}

/// `TCompactProtocol`.
pub(crate) struct CompactReader<'a> {
    cur: Cursor<'a>,
    /// The last field ID of each struct being read, innermost last.
    last_ids: Vec<i16>,
    last_id: i16,
    /// A boolean field's value, carried in its header.
    pending_bool: Option<bool>,
}

impl<'a> CompactReader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> CompactReader<'a> {
        CompactReader {
            cur: Cursor { buf, pos: 0 },
            last_ids: Vec::new(),
            last_id: 0,
            pending_bool: None,
        }
    }

    fn ttype(b: u8, at: usize) -> Result<TType, ThriftError> {
        Ok(match b {
            1 | 2 => TType::Bool,
            3 => TType::Byte,
            4 => TType::I16,
            5 => TType::I32,
            6 => TType::I64,
            7 => TType::Double,
            8 => TType::Binary,
            9 => TType::List,
            10 => TType::Set,
            11 => TType::Map,
            12 => TType::Struct,
            13 => TType::Uuid,
            _ => return Err(ThriftError::Invalid { what: "type", at }),
        })
    }

    fn zigzag(&mut self) -> Result<i64, ThriftError> {
        let n = self.cur.varint()?;
        Ok(((n >> 1) as i64) ^ -((n & 1) as i64))
    }
}

impl Protocol for CompactReader<'_> {
    fn position(&self) -> usize {
        self.cur.pos
    }

    fn remaining(&self) -> usize {
        self.cur.remaining()
    }

    fn read_message_begin(&mut self) -> Result<MessageHeader, ThriftError> {
        let at = self.cur.pos;
        if self.cur.byte()? != 0x82 {
            return Err(ThriftError::Invalid {
                what: "compact protocol ID",
                at,
            });
        }
        let vt = self.cur.byte()?;
        if vt & 0x1f != 1 {
            return Err(ThriftError::Invalid {
                what: "compact protocol version",
                at: at + 1,
            });
        }
        let kind = (vt >> 5) & 0x07;
        self.cur.varint()?;
        let name = self.read_string()?;
        Ok(MessageHeader { name, kind })
    }

    fn read_struct_begin(&mut self) -> Result<(), ThriftError> {
        if self.last_ids.len() > MAX_DEPTH {
            return Err(ThriftError::TooDeep);
        }
        self.last_ids.push(self.last_id);
        self.last_id = 0;
        Ok(())
    }

    fn read_struct_end(&mut self) {
        self.last_id = self.last_ids.pop().unwrap_or(0);
    }

    fn read_field_begin(&mut self) -> Result<Option<(TType, i16)>, ThriftError> {
        let at = self.cur.pos;
        let b = self.cur.byte()?;
        if b == 0 {
            return Ok(None);
        }
        let ty_bits = b & 0x0f;
        let ty = Self::ttype(ty_bits, at)?;
        let delta = b >> 4;
        let id = if delta == 0 {
            let id = self.zigzag()?;
            i16::try_from(id).map_err(|_| ThriftError::Invalid {
                what: "field ID",
                at,
            })?
        } else {
            self.last_id.wrapping_add(i16::from(delta))
        };
        self.last_id = id;
        if ty == TType::Bool {
            self.pending_bool = Some(ty_bits == 1);
        }
        Ok(Some((ty, id)))
    }

    fn read_bool(&mut self) -> Result<bool, ThriftError> {
        match self.pending_bool.take() {
            Some(b) => Ok(b),
            // In a list or map, each boolean is a byte of its own.
            None => Ok(self.cur.byte()? == 1),
        }
    }

    fn read_byte(&mut self) -> Result<i8, ThriftError> {
        Ok(self.cur.byte()? as i8)
    }

    fn read_i16(&mut self) -> Result<i16, ThriftError> {
        let at = self.cur.pos;
        i16::try_from(self.zigzag()?).map_err(|_| ThriftError::Invalid { what: "i16", at })
    }

    fn read_i32(&mut self) -> Result<i32, ThriftError> {
        let at = self.cur.pos;
        i32::try_from(self.zigzag()?).map_err(|_| ThriftError::Invalid { what: "i32", at })
    }

    fn read_i64(&mut self) -> Result<i64, ThriftError> {
        self.zigzag()
    }

    fn read_double(&mut self) -> Result<f64, ThriftError> {
        Ok(f64::from_bits(u64::from_le_bytes(self.cur.array()?)))
    }

    fn read_binary(&mut self) -> Result<Vec<u8>, ThriftError> {
        let n = self.cur.varint()?;
        let len = self.cur.check_len("string length", n, 1)?;
        Ok(self.cur.take(len)?.to_vec())
    }

    fn read_list_begin(&mut self) -> Result<(TType, usize), ThriftError> {
        let at = self.cur.pos;
        let b = self.cur.byte()?;
        let ty = Self::ttype(b & 0x0f, at)?;
        let short = u64::from(b >> 4);
        let n = if short == 15 {
            self.cur.varint()?
        } else {
            short
        };
        let len = self.cur.check_len("list length", n, 1)?;
        Ok((ty, len))
    }

    fn read_map_begin(&mut self) -> Result<(TType, TType, usize), ThriftError> {
        let n = self.cur.varint()?;
        if n == 0 {
            return Ok((TType::Binary, TType::Binary, 0));
        }
        let at = self.cur.pos;
        let b = self.cur.byte()?;
        let kty = Self::ttype(b >> 4, at)?;
        let vty = Self::ttype(b & 0x0f, at)?;
        let len = self.cur.check_len("map length", n, 2)?;
        Ok((kty, vty, len))
    }

    fn read_uuid(&mut self) -> Result<[u8; 16], ThriftError> {
        self.cur.array()
    }
}

/// Writers of both protocols: just enough to build Jaeger payloads, for tests and fuzzing
/// seeds.
pub(crate) mod write {
    /// A Thrift writer.
    pub(crate) trait Writer {
        fn message(&mut self, name: &str, kind: u8);
        fn field(&mut self, ty: u8, id: i16);
        fn stop(&mut self);
        fn struct_begin(&mut self) {}
        fn struct_end(&mut self) {
            self.stop();
        }
        fn bool_field(&mut self, id: i16, v: bool);
        fn i32(&mut self, v: i32);
        fn i64(&mut self, v: i64);
        fn double(&mut self, v: f64);
        fn binary(&mut self, v: &[u8]);
        fn list(&mut self, ty: u8, len: usize);
        /// The protocol's type code for a binary-protocol type code.
        fn code(&self, binary: u8) -> u8;
    }

    #[derive(Default)]
    pub(crate) struct Binary(pub(crate) Vec<u8>);

    #[expect(
        clippy::big_endian_bytes,
        reason = "Thrift's binary protocol is big-endian"
    )]
    impl Writer for Binary {
        fn message(&mut self, name: &str, kind: u8) {
            self.0
                .extend_from_slice(&(0x8001_0000u32 | u32::from(kind)).to_be_bytes());
            self.binary(name.as_bytes());
            self.i32(0);
        }
        fn field(&mut self, ty: u8, id: i16) {
            self.0.push(ty);
            self.0.extend_from_slice(&id.to_be_bytes());
        }
        fn stop(&mut self) {
            self.0.push(0);
        }
        fn bool_field(&mut self, id: i16, v: bool) {
            self.field(2, id);
            self.0.push(u8::from(v));
        }
        fn i32(&mut self, v: i32) {
            self.0.extend_from_slice(&v.to_be_bytes());
        }
        fn i64(&mut self, v: i64) {
            self.0.extend_from_slice(&v.to_be_bytes());
        }
        fn double(&mut self, v: f64) {
            self.0.extend_from_slice(&v.to_bits().to_be_bytes());
        }
        fn binary(&mut self, v: &[u8]) {
            self.i32(v.len() as i32);
            self.0.extend_from_slice(v);
        }
        fn list(&mut self, ty: u8, len: usize) {
            self.0.push(ty);
            self.i32(len as i32);
        }
        fn code(&self, binary: u8) -> u8 {
            binary
        }
    }

    #[derive(Default)]
    pub(crate) struct Compact {
        pub(crate) buf: Vec<u8>,
        last: Vec<i16>,
        last_id: i16,
    }

    impl Compact {
        fn varint(&mut self, mut v: u64) {
            loop {
                if v < 0x80 {
                    self.buf.push(v as u8);
                    return;
                }
                self.buf.push((v as u8 & 0x7f) | 0x80);
                v >>= 7;
            }
        }
        fn zigzag(&mut self, v: i64) {
            self.varint(((v << 1) ^ (v >> 63)) as u64);
        }
        fn header(&mut self, ty: u8, id: i16) {
            let delta = id - self.last_id;
            if delta > 0 && delta <= 15 {
                self.buf.push(((delta as u8) << 4) | ty);
            } else {
                self.buf.push(ty);
                self.zigzag(i64::from(id));
            }
            self.last_id = id;
        }
    }

    impl Writer for Compact {
        fn message(&mut self, name: &str, kind: u8) {
            self.buf.push(0x82);
            self.buf.push((kind << 5) | 1);
            self.varint(0);
            self.binary(name.as_bytes());
        }
        fn field(&mut self, ty: u8, id: i16) {
            let ty = self.code(ty);
            self.header(ty, id);
        }
        fn stop(&mut self) {
            self.buf.push(0);
        }
        fn struct_begin(&mut self) {
            self.last.push(self.last_id);
            self.last_id = 0;
        }
        fn struct_end(&mut self) {
            self.stop();
            self.last_id = self.last.pop().unwrap_or(0);
        }
        fn bool_field(&mut self, id: i16, v: bool) {
            self.header(if v { 1 } else { 2 }, id);
        }
        fn i32(&mut self, v: i32) {
            self.zigzag(i64::from(v));
        }
        fn i64(&mut self, v: i64) {
            self.zigzag(v);
        }
        fn double(&mut self, v: f64) {
            self.buf.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        fn binary(&mut self, v: &[u8]) {
            self.varint(v.len() as u64);
            self.buf.extend_from_slice(v);
        }
        fn list(&mut self, ty: u8, len: usize) {
            let ty = self.code(ty);
            if len < 15 {
                self.buf.push(((len as u8) << 4) | ty);
            } else {
                self.buf.push(0xf0 | ty);
                self.varint(len as u64);
            }
        }
        fn code(&self, binary: u8) -> u8 {
            match binary {
                2 => 1,
                3 => 3,
                4 => 7,
                6 => 4,
                8 => 5,
                10 => 6,
                11 => 8,
                12 => 12,
                13 => 11,
                14 => 10,
                15 => 9,
                other => other,
            }
        }
    }
}

#[cfg(test)]
#[expect(
    clippy::unwrap_used,
    clippy::big_endian_bytes,
    reason = "tests fail loudly; Thrift's binary protocol is big-endian"
)]
mod tests {
    use super::write::{Binary, Compact, Writer};
    use super::*;

    fn sample<W: Writer>(w: &mut W) {
        w.message("emitBatch", MESSAGE_ONEWAY);
        w.struct_begin();
        w.field(8, 1);
        w.i32(-7);
        w.bool_field(2, true);
        w.bool_field(20, false);
        w.field(10, 300);
        w.i64(i64::MIN);
        w.field(4, 4);
        w.double(1.5);
        w.field(11, 5);
        w.binary("héllo".as_bytes());
        w.field(15, 6);
        w.list(10, 20);
        for i in 0..20 {
            w.i64(i * 1000);
        }
        w.struct_end();
    }

    fn read_sample<P: Protocol>(p: &mut P) {
        let header = p.read_message_begin().unwrap();
        assert_eq!(header.name, "emitBatch");
        assert_eq!(header.kind, MESSAGE_ONEWAY);
        p.read_struct_begin().unwrap();
        assert_eq!(p.read_field_begin().unwrap(), Some((TType::I32, 1)));
        assert_eq!(p.read_i32().unwrap(), -7);
        assert_eq!(p.read_field_begin().unwrap(), Some((TType::Bool, 2)));
        assert!(p.read_bool().unwrap());
        assert_eq!(p.read_field_begin().unwrap(), Some((TType::Bool, 20)));
        assert!(!p.read_bool().unwrap());
        assert_eq!(p.read_field_begin().unwrap(), Some((TType::I64, 300)));
        assert_eq!(p.read_i64().unwrap(), i64::MIN);
        assert_eq!(p.read_field_begin().unwrap(), Some((TType::Double, 4)));
        assert_eq!(p.read_double().unwrap(), 1.5);
        assert_eq!(p.read_field_begin().unwrap(), Some((TType::Binary, 5)));
        assert_eq!(p.read_string().unwrap(), "héllo");
        assert_eq!(p.read_field_begin().unwrap(), Some((TType::List, 6)));
        let list = read_list(p, TType::I64, "list", |p| p.read_i64()).unwrap();
        assert_eq!(list, (0..20).map(|i| i * 1000).collect::<Vec<_>>());
        assert_eq!(p.read_field_begin().unwrap(), None);
        p.read_struct_end();
        assert_eq!(p.remaining(), 0);
    }

    #[test]
    fn both_protocols_read_what_they_wrote() {
        let mut b = Binary::default();
        sample(&mut b);
        read_sample(&mut BinaryReader::new(&b.0));
        let mut c = Compact::default();
        sample(&mut c);
        read_sample(&mut CompactReader::new(&c.buf));
    }

    #[test]
    fn skip_passes_over_anything_it_can_read() {
        let mut b = Binary::default();
        sample(&mut b);
        let mut r = BinaryReader::new(&b.0);
        r.read_message_begin().unwrap();
        skip(&mut r, TType::Struct, 0).unwrap();
        assert_eq!(r.remaining(), 0);
        let mut c = Compact::default();
        sample(&mut c);
        let mut r = CompactReader::new(&c.buf);
        r.read_message_begin().unwrap();
        skip(&mut r, TType::Struct, 0).unwrap();
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn old_style_binary_message_header() {
        let mut out = Vec::new();
        out.extend_from_slice(&9i32.to_be_bytes());
        out.extend_from_slice(b"emitBatch");
        out.push(MESSAGE_ONEWAY);
        out.extend_from_slice(&1i32.to_be_bytes());
        let header = BinaryReader::new(&out).read_message_begin().unwrap();
        assert_eq!(header.name, "emitBatch");
        assert_eq!(header.kind, MESSAGE_ONEWAY);
    }

    #[test]
    fn lengths_past_the_end_are_refused_before_allocating() {
        // A list claiming 2^31-1 elements in a 6-byte payload.
        let payload = [15u8, 10, 0x7f, 0xff, 0xff, 0xff];
        let err = skip(&mut BinaryReader::new(&payload), TType::List, 0).unwrap_err();
        assert!(matches!(err, ThriftError::TooLong { .. }), "{err}");
        let err = BinaryReader::new(&[0x7f, 0xff, 0xff, 0xff])
            .read_binary()
            .unwrap_err();
        assert!(matches!(err, ThriftError::TooLong { .. }), "{err}");
        // A compact varint length of 2^63.
        let payload = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80, 0x01];
        let err = CompactReader::new(&payload).read_binary().unwrap_err();
        assert!(matches!(err, ThriftError::TooLong { .. }), "{err}");
        // A varint that never ends.
        let err = CompactReader::new(&[0xff; 11]).read_i64().unwrap_err();
        assert!(matches!(err, ThriftError::Invalid { .. }), "{err}");
        let err = BinaryReader::new(&[0xff, 0xff, 0xff, 0xf0])
            .read_binary()
            .unwrap_err();
        assert!(matches!(err, ThriftError::Invalid { .. }), "{err}");
    }

    #[test]
    fn nesting_is_bounded() {
        // Lists of lists, deeper than the limit, in both protocols.
        let mut deep = Vec::new();
        for _ in 0..200 {
            deep.extend_from_slice(&[15u8, 0, 0, 0, 1]);
        }
        let err = skip(&mut BinaryReader::new(&deep), TType::List, 0).unwrap_err();
        assert_eq!(err, ThriftError::TooDeep);
        let deep = vec![0x19u8; 200];
        let err = skip(&mut CompactReader::new(&deep), TType::List, 0).unwrap_err();
        assert_eq!(err, ThriftError::TooDeep);
        // Structs in structs.
        let deep = vec![0x1cu8; 200];
        let err = skip(&mut CompactReader::new(&deep), TType::Struct, 0).unwrap_err();
        assert_eq!(err, ThriftError::TooDeep);
    }

    #[test]
    fn truncations_and_noise_never_panic() {
        let mut b = Binary::default();
        sample(&mut b);
        let mut c = Compact::default();
        sample(&mut c);
        for payload in [&b.0, &c.buf] {
            for cut in 0..payload.len() {
                let _ = skip(&mut BinaryReader::new(&payload[..cut]), TType::Struct, 0);
                let _ = skip(&mut CompactReader::new(&payload[..cut]), TType::Struct, 0);
                let _ = BinaryReader::new(&payload[..cut]).read_message_begin();
                let _ = CompactReader::new(&payload[..cut]).read_message_begin();
            }
        }
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            let mut noise = Vec::new();
            for _ in 0..(state % 97) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                noise.push(state as u8);
            }
            let _ = skip(&mut BinaryReader::new(&noise), TType::Struct, 0);
            let _ = skip(&mut CompactReader::new(&noise), TType::Struct, 0);
        }
    }
}
