//! glibc's heap, set once at start so that a proxy streaming answers does not hand memory
//! back to the kernel and fault it in again on every few requests.
//!
//! An upstream connection reads an answer into a buffer that the body's chunks then share;
//! hyper reserves the next read's buffer while the chunk is still on its way to the client,
//! so each answer of a few KiB allocates a fresh buffer and frees the old one when its
//! last chunk is written. glibc gives the top of the heap back (`brk`) once 128 KiB of it
//! is free (`M_TRIM_THRESHOLD`), and the next allocations fault those pages in again: with
//! 16 KiB answers on 32 connections, 0.09 `brk` calls and 0.3 page faults per request, about
//! 6% of the proxy's CPU (bench/run's 16 KiB workload).
//!
//! glibc raises both thresholds by itself once a block it had mapped is freed (mallopt(3),
//! "dynamic mmap threshold"): the mmap threshold to that block's size and the trim threshold
//! to twice it. Freeing one block of `SETTLE` bytes at start sets them to 1 and 2 MiB, so at
//! most 2 MiB of free heap is kept, without `mallopt` (which would need `unsafe`). Other C
//! libraries and allocators ignore it: it costs one allocation.

/// Above glibc's default mmap threshold (128 KiB), below its dynamic maximum (32 MiB).
const SETTLE: usize = 1 << 20;

/// Allocates and frees one block of `SETTLE` bytes; see the module's comment.
pub fn keep_freed_memory() {
    // black_box: without it the optimiser may drop an allocation nothing reads.
    let block = std::hint::black_box(Vec::<u8>::with_capacity(SETTLE));
    drop(block);
}
