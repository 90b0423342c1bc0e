//! A postcard serializer without a panic path.
//!
//! The bytes are exactly postcard 1.x's (the tests below compare the two):
//! varint (LEB128) for u16..u128 and lengths, zigzag varint for signed
//! integers, one byte for u8/i8/bool, little-endian floats, a varint index
//! before enum variants, nothing for structs and tuples beyond their fields.
//!
//! Why not `postcard::to_slice`: its varint encoder returns `&mut buf[..=i]`
//! from a loop over a 5-byte array, and at opt-level `z` LLVM does not prove
//! the index in range, so a slice-index panic survives optimisation and the
//! firmware's no-panic link fails. Decoding still uses postcard, whose
//! deserializer leaves no panic path.

use serde::ser::{self, Serialize};

/// The only error: the value does not fit in the buffer, or it uses a serde
/// feature postcard cannot encode (an unknown-length sequence, `collect_str`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full;

impl core::fmt::Display for Full {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("buffer too small")
    }
}

impl ser::Error for Full {
    fn custom<T: core::fmt::Display>(_msg: T) -> Self {
        Full
    }
}

// serde requires the error type to implement `core::error::Error` (Rust
// 1.81+, no std needed).
impl core::error::Error for Full {}

type Res<T = ()> = core::result::Result<T, Full>;

/// Serialize `v` at the start of `out`; returns the bytes written.
pub(crate) fn to_slice<T: Serialize + ?Sized>(v: &T, out: &mut [u8]) -> Res<usize> {
    let mut s = Ser { out, pos: 0 };
    v.serialize(&mut s)?;
    Ok(s.pos)
}

struct Ser<'a> {
    out: &'a mut [u8],
    pos: usize,
}

impl Ser<'_> {
    fn byte(&mut self, b: u8) -> Res {
        let slot = self.out.get_mut(self.pos).ok_or(Full)?;
        *slot = b;
        self.pos += 1;
        Ok(())
    }

    fn bytes(&mut self, b: &[u8]) -> Res {
        let end = self.pos.checked_add(b.len()).ok_or(Full)?;
        let dst = self.out.get_mut(self.pos..end).ok_or(Full)?;
        // Not `copy_from_slice`: its length check is outlined at opt-level
        // `z`, where LLVM no longer sees that the lengths are equal.
        for (d, s) in dst.iter_mut().zip(b) {
            *d = *s;
        }
        self.pos = end;
        Ok(())
    }

    fn varint(&mut self, mut v: u128) -> Res {
        loop {
            let low = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                return self.byte(low);
            }
            self.byte(low | 0x80)?;
        }
    }

    fn zigzag(&mut self, v: i128) -> Res {
        self.varint(((v << 1) ^ (v >> 127)) as u128)
    }

    fn len(&mut self, n: usize) -> Res {
        self.varint(n as u128)
    }
}

impl<'a> ser::Serializer for &mut Ser<'a> {
    type Ok = ();
    type Error = Full;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn is_human_readable(&self) -> bool {
        false
    }
    fn serialize_bool(self, v: bool) -> Res {
        self.byte(u8::from(v))
    }
    fn serialize_i8(self, v: i8) -> Res {
        self.byte(v as u8)
    }
    fn serialize_i16(self, v: i16) -> Res {
        self.zigzag(v.into())
    }
    fn serialize_i32(self, v: i32) -> Res {
        self.zigzag(v.into())
    }
    fn serialize_i64(self, v: i64) -> Res {
        self.zigzag(v.into())
    }
    fn serialize_i128(self, v: i128) -> Res {
        self.zigzag(v)
    }
    fn serialize_u8(self, v: u8) -> Res {
        self.byte(v)
    }
    fn serialize_u16(self, v: u16) -> Res {
        self.varint(v.into())
    }
    fn serialize_u32(self, v: u32) -> Res {
        self.varint(v.into())
    }
    fn serialize_u64(self, v: u64) -> Res {
        self.varint(v.into())
    }
    fn serialize_u128(self, v: u128) -> Res {
        self.varint(v)
    }
    fn serialize_f32(self, v: f32) -> Res {
        self.bytes(&v.to_le_bytes())
    }
    fn serialize_f64(self, v: f64) -> Res {
        self.bytes(&v.to_le_bytes())
    }
    fn serialize_char(self, v: char) -> Res {
        let mut b = [0u8; 4];
        self.serialize_str(v.encode_utf8(&mut b))
    }
    fn serialize_str(self, v: &str) -> Res {
        self.len(v.len())?;
        self.bytes(v.as_bytes())
    }
    fn serialize_bytes(self, v: &[u8]) -> Res {
        self.len(v.len())?;
        self.bytes(v)
    }
    fn serialize_none(self) -> Res {
        self.byte(0)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Res {
        self.byte(1)?;
        v.serialize(self)
    }
    fn serialize_unit(self) -> Res {
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Res {
        Ok(())
    }
    fn serialize_unit_variant(self, _name: &'static str, index: u32, _v: &'static str) -> Res {
        self.varint(index.into())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, v: &T) -> Res {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        v: &T,
    ) -> Res {
        self.varint(index.into())?;
        v.serialize(self)
    }
    fn serialize_seq(self, len: Option<usize>) -> Res<Self> {
        self.len(len.ok_or(Full)?)?;
        Ok(self)
    }
    fn serialize_tuple(self, _len: usize) -> Res<Self> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Res<Self> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Res<Self> {
        self.varint(index.into())?;
        Ok(self)
    }
    fn serialize_map(self, len: Option<usize>) -> Res<Self> {
        self.len(len.ok_or(Full)?)?;
        Ok(self)
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Res<Self> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Res<Self> {
        self.varint(index.into())?;
        Ok(self)
    }
    fn collect_str<T: core::fmt::Display + ?Sized>(self, _v: &T) -> Res {
        // Would need the length before the text; accord never uses it.
        Err(Full)
    }
}

macro_rules! compound {
    ($($tr:ident :: $f:ident),*) => {$(
        impl<'a> ser::$tr for &mut Ser<'a> {
            type Ok = ();
            type Error = Full;
            fn $f<T: Serialize + ?Sized>(&mut self, v: &T) -> Res {
                v.serialize(&mut **self)
            }
            fn end(self) -> Res {
                Ok(())
            }
        }
    )*};
}
compound!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl<'a> ser::SerializeMap for &mut Ser<'a> {
    type Ok = ();
    type Error = Full;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Res {
        k.serialize(&mut **self)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Res {
        v.serialize(&mut **self)
    }
    fn end(self) -> Res {
        Ok(())
    }
}

impl<'a> ser::SerializeStruct for &mut Ser<'a> {
    type Ok = ();
    type Error = Full;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, _key: &'static str, v: &T) -> Res {
        v.serialize(&mut **self)
    }
    fn end(self) -> Res {
        Ok(())
    }
}

impl<'a> ser::SerializeStructVariant for &mut Ser<'a> {
    type Ok = ();
    type Error = Full;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, _key: &'static str, v: &T) -> Res {
        v.serialize(&mut **self)
    }
    fn end(self) -> Res {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;

    use super::to_slice;

    /// Both serializers must write the same bytes and refuse the same sizes.
    fn same<T: Serialize + ?Sized>(v: &T) {
        let mut a = [0u8; 256];
        let mut b = [0u8; 256];
        let n = to_slice(v, &mut a).unwrap();
        let m = postcard::to_slice(v, &mut b).unwrap().len();
        assert_eq!(a[..n], b[..m]);
        for short in 0..n {
            assert!(to_slice(v, &mut a[..short]).is_err());
        }
    }

    #[derive(Serialize)]
    enum E<'a> {
        Unit,
        New(u16),
        Tuple(u8, i32),
        Struct { name: &'a str, x: u64 },
    }

    #[derive(Serialize)]
    struct S<'a> {
        a: u8,
        b: u16,
        c: u32,
        d: bool,
        e: &'a str,
        f: Option<u32>,
        g: [E<'a>; 4],
        h: &'a [u16],
        i: (i8, i16, i64, f32, f64, char),
        j: u128,
        k: i128,
    }

    #[test]
    fn integers_match_postcard() {
        for shift in 0..32 {
            for delta in [0u32, 1, 2, 0x7f] {
                let v = (1u32 << shift).wrapping_sub(delta);
                same(&v);
                same(&(v as u16));
                same(&(v as i32));
                same(&(v as i32).wrapping_neg());
                same(&(v as u64).wrapping_mul(0x1_0000_0001));
            }
        }
        same(&u32::MAX);
        same(&i64::MIN);
        same(&u128::MAX);
        same(&i128::MIN);
    }

    #[test]
    fn compound_values_match_postcard() {
        same(&S {
            a: 7,
            b: 300,
            c: 70_000,
            d: true,
            e: "0000:00:02.0/vfio-nic",
            f: Some(129),
            g: [
                E::Unit,
                E::New(0x8001),
                E::Tuple(1, -200),
                E::Struct {
                    name: "ram",
                    x: u64::MAX,
                },
            ],
            h: &[1, 128, 16384],
            i: (-1, -129, i64::MAX, 1.5, -0.25, 'é'),
            j: 1 << 100,
            k: -(1 << 90),
        });
        same(&None::<u8>);
        same(&());
        same("");
    }
}
