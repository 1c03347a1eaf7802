//! Plain old data: Rust values that are the same bytes as a C value of the object, so
//! that a key, a value, a global variable or a record is read and written as a typed
//! value instead of by offsets counted by hand.
//!
//! ABI: none of the kernel's own; the contract is the C type of `bpf/*.bpf.c` as clang
//! lays it out (the System V psABI's rules for the target: sizes, alignments, padding),
//! which the object's BTF describes (`Documentation/bpf/btf.rst`). [`Shape`] says what a
//! Rust type claims about that layout, and [`crate::btf::layout`] checks the claim against
//! the BTF before the first byte is read.
//!
//! This module holds the only `unsafe` that is not a system call or an `mmap`: turning
//! bytes into a `T: Pod` and a `T: Pod` into bytes. Everything else in the crate uses
//! [`bytes_of`] and [`read`]. (aya's `Pod`, cilium/ebpf's `binary.Read` of a struct, and
//! `bytemuck` do the same job; no dependency is needed for it.)

use std::mem::size_of;

/// A type whose values are plain bytes, as a C struct of the object is.
///
/// # Safety
///
/// By implementing `Pod` the implementer promises, for the type and everything in it:
/// - **every bit pattern is a valid value**: bytes the kernel hands back are turned into a
///   `T` without any check, so no `bool`, `char`, enum, reference, `NonZero*` or other
///   type with invalid values, anywhere in it;
/// - **no padding**: every byte belongs to a field, because [`bytes_of`] hands all
///   `size_of::<T>()` bytes of a value to the kernel, and a padding byte is uninitialised
///   memory, which may not be read. Where C has a hole (a `u32` after a `u16` at offset
///   38 starts at 40), the Rust type declares it as a field (`_pad: [u8; 2]`), set to 0;
/// - **a fixed layout**: `#[repr(C)]` (or `#[repr(transparent)]`), so that the fields are
///   where the C compiler puts them; field order, types and explicit padding mirror the
///   C declaration;
/// - no interior mutability (`Cell`, atomics): a value is read through a shared reference.
///
/// The integers (`u8` … `u64`, `i8` … `i64`) and arrays of `Pod` are `Pod`. `u128`,
/// `usize` and floats are not: their size or alignment is not the BPF target's, or the
/// BPF side has none.
///
/// [`Pod::shape`] is not part of the safety promise: a wrong shape makes a BTF check
/// refuse (or miss) a mismatch, never read memory it should not.
pub unsafe trait Pod: Copy + 'static {
    /// What this type says about its layout, for the checks against the object's BTF.
    /// The default, [`Shape::Opaque`], lets only its size be checked; a struct lists its
    /// fields ([`Shape::Struct`]) to have each checked by name and offset.
    fn shape() -> Shape {
        Shape::Opaque
    }
}

/// What a [`Pod`] type claims about its layout; checked against BTF by
/// [`crate::btf::layout::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// An integer of `size_of::<T>()` bytes.
    Int {
        /// Signed (`i32`) or not (`u32`).
        signed: bool,
    },
    /// `[elem; len]`.
    Array {
        /// The element's shape.
        elem: Box<Shape>,
        /// The element's size in bytes.
        elem_size: usize,
        /// The number of elements.
        len: usize,
    },
    /// A `#[repr(C)]` struct: its named fields. Fields that exist only on the Rust side
    /// (explicit padding for a C hole) are left out; every named member of the C struct is
    /// listed.
    Struct {
        /// The fields, each with its byte offset ([`std::mem::offset_of!`]).
        fields: Vec<Field>,
    },
    /// Only the size is claimed.
    Opaque,
}

/// A field of a [`Shape::Struct`]: its C name, its byte offset and its own shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The member's name in C (and in the BTF).
    pub name: &'static str,
    /// Its byte offset in the struct.
    pub offset: usize,
    /// Its size in bytes.
    pub size: usize,
    /// Its shape.
    pub shape: Shape,
}

impl Field {
    /// Field `name` of type `T` at byte `offset` (`std::mem::offset_of!(Struct, name)`).
    pub fn of<T: Pod>(name: &'static str, offset: usize) -> Field {
        Field {
            name,
            offset,
            size: size_of::<T>(),
            shape: T::shape(),
        }
    }
}

macro_rules! int_pod {
    ($($t:ty: $signed:expr),*) => {$(
        // SAFETY: an integer has no padding and every bit pattern is a value of it.
        unsafe impl Pod for $t {
            fn shape() -> Shape {
                Shape::Int { signed: $signed }
            }
        }
    )*};
}

int_pod!(u8: false, u16: false, u32: false, u64: false, i8: true, i16: true, i32: true, i64: true);

// SAFETY: an array of `Pod` has no padding between elements (an element's size is a
// multiple of its alignment) and every bit pattern of each element is valid.
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {
    fn shape() -> Shape {
        Shape::Array {
            elem: Box::new(T::shape()),
            elem_size: size_of::<T>(),
            len: N,
        }
    }
}

/// The bytes of `value`, as the kernel gets them.
pub fn bytes_of<T: Pod>(value: &T) -> &[u8] {
    // SAFETY: `value` is a live `T` of `size_of::<T>()` bytes, borrowed for the returned
    // slice's lifetime; `T: Pod` promises no padding, so every one of those bytes is
    // initialised, and no interior mutability, so they do not change while borrowed.
    unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) }
}

/// The `T` in the first `size_of::<T>()` bytes of `bytes` (at any alignment); `None`
/// when `bytes` is shorter. Whether longer is right is the caller's to say (a perf
/// sample is padded, a map value is not).
pub fn read<T: Pod>(bytes: &[u8]) -> Option<T> {
    let head = bytes.get(..size_of::<T>())?;
    // SAFETY: `head` holds `size_of::<T>()` initialised bytes (checked just above);
    // `read_unaligned` needs no alignment; `T: Pod` promises every bit pattern is a `T`.
    Some(unsafe { std::ptr::read_unaligned(head.as_ptr().cast::<T>()) })
}

/// The `T` a record holds: `bytes` is at least `size_of::<T>()` long and at most
/// `padding` bytes longer (what the channel adds: a perf sample up to 7 bytes, a ring
/// buffer record none). Anything else is a [`SizeError`], never a panic.
pub fn read_padded<T: Pod>(bytes: &[u8], padding: usize) -> Result<T, SizeError> {
    let size = size_of::<T>();
    let error = || SizeError {
        rust_type: std::any::type_name::<T>(),
        size,
        got: bytes.len(),
        padding,
    };
    if bytes.len() > size.saturating_add(padding) {
        return Err(error());
    }
    read(bytes).ok_or_else(error)
}

/// A record of a length that is not its type's (plus the padding its channel allows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeError {
    /// The type asked for.
    pub rust_type: &'static str,
    /// Its size.
    pub size: usize,
    /// The record's length.
    pub got: usize,
    /// The padding allowed past the type's size.
    pub padding: usize,
}

impl std::fmt::Display for SizeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let SizeError {
            rust_type,
            size,
            got,
            padding,
        } = self;
        if got < size {
            write!(
                f,
                "a record of {got} bytes is shorter than {rust_type} ({size} bytes)"
            )
        } else {
            write!(
                f,
                "a record of {got} bytes is longer than {rust_type} ({size} bytes) and the \
                 {padding} bytes of padding allowed"
            )
        }
    }
}

impl std::error::Error for SizeError {}

/// A `T` of all-zero bytes (a valid value: `T: Pod`).
pub fn zeroed<T: Pod>() -> T {
    // SAFETY: `T: Pod` promises every bit pattern, all zeros included, is a `T`.
    unsafe { std::mem::zeroed() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(C)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Pair {
        a: u16,
        _pad: [u8; 2],
        b: u32,
    }
    // SAFETY: repr(C), integers only, the hole after `a` declared as `_pad`.
    unsafe impl Pod for Pair {}

    #[test]
    fn a_value_and_its_bytes_round_trip() {
        let pair = Pair {
            a: 0x0102,
            _pad: [0; 2],
            b: 0x0304_0506,
        };
        let bytes = bytes_of(&pair).to_vec();
        let mut expected = 0x0102u16.to_ne_bytes().to_vec();
        expected.extend([0, 0]);
        expected.extend(0x0304_0506u32.to_ne_bytes());
        assert_eq!(bytes, expected);
        assert_eq!(read::<Pair>(&bytes), Some(pair));
        // Unaligned input, and a longer slice: the first 8 bytes.
        let mut shifted = vec![0xff];
        shifted.extend(&bytes);
        shifted.push(0xee);
        assert_eq!(read::<Pair>(&shifted[1..]), Some(pair));
        assert_eq!(read::<Pair>(&bytes[..7]), None);
        assert_eq!(zeroed::<[u64; 3]>(), [0; 3]);
    }

    #[test]
    fn a_record_shorter_than_its_type_or_longer_than_its_padding_is_an_error() {
        let bytes = [1u8, 0, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9];
        assert_eq!(
            read_padded::<u32>(&bytes[..4], 0),
            Ok(u32::from_ne_bytes([1, 0, 0, 0]))
        );
        assert_eq!(
            read_padded::<u32>(&bytes[..11], 7),
            Ok(u32::from_ne_bytes([1, 0, 0, 0]))
        );
        let long = read_padded::<u32>(&bytes[..12], 7).unwrap_err();
        assert_eq!(
            long.to_string(),
            "a record of 12 bytes is longer than u32 (4 bytes) and the 7 bytes of padding allowed"
        );
        let short = read_padded::<u64>(&bytes[..7], 7).unwrap_err();
        assert_eq!(
            short,
            SizeError {
                rust_type: "u64",
                size: 8,
                got: 7,
                padding: 7
            }
        );
        assert_eq!(
            short.to_string(),
            "a record of 7 bytes is shorter than u64 (8 bytes)"
        );
        assert!(read_padded::<u32>(&bytes[..5], 0).is_err());
    }

    #[test]
    fn shapes_of_integers_and_arrays() {
        assert_eq!(u16::shape(), Shape::Int { signed: false });
        assert_eq!(i64::shape(), Shape::Int { signed: true });
        assert_eq!(
            <[u16; 4]>::shape(),
            Shape::Array {
                elem: Box::new(Shape::Int { signed: false }),
                elem_size: 2,
                len: 4
            }
        );
        assert_eq!(Pair::shape(), Shape::Opaque);
        assert_eq!(
            Field::of::<u32>("b", 4),
            Field {
                name: "b",
                offset: 4,
                size: 4,
                shape: Shape::Int { signed: false }
            }
        );
    }
}
