//! Exists so tracee-collect can name this crate as a build dependency and be
//! rebuilt when it changes; the programs are the `tracee-ebpf` binary.
#![no_std]
