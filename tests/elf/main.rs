//! Tests of the `elf` layer: the real object, hand-made bad objects, and the fuzz corpus.

mod bad_input;
mod corpus;
mod real_object;
mod writer;
