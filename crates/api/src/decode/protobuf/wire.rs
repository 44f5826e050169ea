//! The protobuf wire format (<https://protobuf.dev/programming-guides/encoding/>): a cursor that
//! reads keys, varints, fixed-width and length-delimited values, and skips what it does not need;
//! and the error that names where decoding stopped.

/// The protobuf wire types (groups, 3 and 4, are not used by Kubernetes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Wire {
    /// Varint: integers and booleans.
    Varint,
    /// Eight little-endian bytes: doubles.
    Fixed64,
    /// A length, then that many bytes: strings, bytes, messages, packed lists.
    Len,
    /// Four little-endian bytes.
    Fixed32,
}

/// A cursor over protobuf bytes.
pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// The next field's number and wire type, or `None` at the end.
    pub(super) fn key(&mut self) -> Result<Option<(u32, Wire)>, Error> {
        if self.at_end() {
            return Ok(None);
        }
        let at = self.pos;
        let key = self.varint()?;
        let wire = match key & 7 {
            0 => Wire::Varint,
            1 => Wire::Fixed64,
            2 => Wire::Len,
            5 => Wire::Fixed32,
            other => {
                return Err(Error::new(format!(
                    "wire type {other} at byte {at} is not supported"
                )));
            }
        };
        let tag = u32::try_from(key >> 3)
            .ok()
            .filter(|&t| t > 0)
            .ok_or_else(|| {
                Error::new(format!(
                    "field number {} at byte {at} is out of range",
                    key >> 3
                ))
            })?;
        Ok(Some((tag, wire)))
    }

    pub(super) fn varint(&mut self) -> Result<u64, Error> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(self.truncated("varint"));
            };
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Error::new(format!(
            "varint longer than 10 bytes at byte {}",
            self.pos
        )))
    }

    pub(super) fn fixed64(&mut self) -> Result<u64, Error> {
        let bytes = self.take(8, "64-bit value")?;
        Ok(u64::from_le_bytes(bytes.try_into().expect("took 8 bytes")))
    }

    pub(super) fn bytes(&mut self, wire: Wire) -> Result<&'a [u8], Error> {
        if wire != Wire::Len {
            return Err(Error::new(format!(
                "wire type {wire:?} where Len was expected"
            )));
        }
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| self.truncated("length-delimited value"))?;
        self.take(len, "length-delimited value")
    }

    pub(super) fn string(&mut self, wire: Wire) -> Result<String, Error> {
        // Go's JSON encoder replaces invalid UTF-8 with U+FFFD; so does this.
        Ok(String::from_utf8_lossy(self.bytes(wire)?).into_owned())
    }

    pub(super) fn skip(&mut self, wire: Wire) -> Result<(), Error> {
        match wire {
            Wire::Varint => self.varint().map(drop),
            Wire::Fixed64 => self.take(8, "64-bit value").map(drop),
            Wire::Len => self.bytes(wire).map(drop),
            Wire::Fixed32 => self.take(4, "32-bit value").map(drop),
        }
    }

    fn take(&mut self, len: usize, what: &str) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(len).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(self.truncated(what));
        };
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn truncated(&self, what: &str) -> Error {
        Error::new(format!(
            "truncated {what} at byte {} of {}",
            self.pos,
            self.buf.len()
        ))
    }
}

/// A decoding failure, with the JSON path of the field it happened in.
#[derive(Debug)]
pub(super) struct Error {
    path: String,
    message: String,
}

impl Error {
    pub(super) fn new(message: String) -> Self {
        Error {
            path: String::new(),
            message,
        }
    }

    /// The same error, one field further out.
    pub(super) fn at(mut self, field: &str) -> Self {
        if !field.is_empty() {
            self.path = match (self.path.is_empty(), self.path.starts_with('[')) {
                (true, _) => field.to_string(),
                (false, true) => format!("{field}{}", self.path),
                (false, false) => format!("{field}.{}", self.path),
            };
        }
        self
    }

    /// The same error, inside list element `index`.
    pub(super) fn index(mut self, index: usize) -> Self {
        self.path = match self.path.is_empty() {
            true => format!("[{index}]"),
            false => format!("[{index}].{}", self.path),
        };
        self
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.path.is_empty() {
            true => f.write_str(&self.message),
            false => write!(f, "{}: {}", self.path, self.message),
        }
    }
}
