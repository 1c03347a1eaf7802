//! Memory for the readers of kernel rings: they read the rings' positions as `AtomicU64`, so
//! their memory must be 8-byte aligned, as the kernel's mmap is. [`AlignedBytes`] gets that
//! without `unsafe`: it over-allocates by 7 bytes and starts the slice at the first aligned
//! address.

/// `len` zeroed bytes starting at an 8-byte aligned address.
pub struct AlignedBytes {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBytes {
    /// `len` zeroed bytes, 8-byte aligned.
    pub fn zeroed(len: usize) -> AlignedBytes {
        let buf = vec![0u8; len + 7];
        // How far the allocation is from the next multiple of 8. Moving the Vec (or the
        // struct) does not move its heap buffer, and the buffer never grows, so `start`
        // stays right for the life of `buf`.
        let start = buf.as_ptr().addr().wrapping_neg() % 8;
        AlignedBytes { buf, start, len }
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }

    /// The bytes, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }
}

impl Clone for AlignedBytes {
    /// A new allocation (so possibly a different offset) with the same bytes.
    fn clone(&self) -> AlignedBytes {
        let mut copy = AlignedBytes::zeroed(self.len);
        copy.as_mut_slice().copy_from_slice(self.as_slice());
        copy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_bytes_are_aligned_at_every_size_and_after_a_clone() {
        for len in 0..64 {
            let mut bytes = AlignedBytes::zeroed(len);
            assert_eq!(bytes.as_slice().as_ptr().addr() % 8, 0, "len {len}");
            assert_eq!(bytes.as_slice(), vec![0; len]);
            bytes.as_mut_slice().iter_mut().for_each(|b| *b = len as u8);
            let copy = bytes.clone();
            assert_eq!(copy.as_slice().as_ptr().addr() % 8, 0, "len {len}");
            assert_eq!(copy.as_slice(), bytes.as_slice());
        }
    }
}
