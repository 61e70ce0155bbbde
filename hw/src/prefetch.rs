//! Host prefetch hints: the simulator's own memory, not the simulated machine's.
//!
//! The state that models memory is large (the page-table frames alone are 8 MiB when 1 M pages
//! are mapped) and a random workload reads it at random, so the host waits on its own cache
//! misses. Where the simulator knows a step ahead what it will read (the PTE a walker has asked
//! memory for, read when the answer comes back), it asks the host to start loading it. A hint
//! changes no result.

/// Ask the host to bring the cache line holding `*p` closer; a no-op off x86-64.
#[inline(always)]
pub fn prefetch<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it never faults, reads nothing into the program and writes
    // nothing, whatever the address; `sse` is part of the x86-64 baseline.
    unsafe {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>((p as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
