//! Handing the system back the memory a finished run freed.
//!
//! glibc's malloc keeps what a thread freed in that thread's arena for its next
//! allocation, so each of a sweep's jobs would stay resident at the largest run it ever
//! ran, and two jobs at twice one run's peak, whatever the memory admission between them
//! (sim::admission) allows at once. After a large run, its job returns the freed pages.

/// Runs that held less than this leave the allocator alone (most do: trimming walks
/// every arena).
pub const RELEASE_ABOVE_BYTES: u64 = 64 << 20;

/// Return the pages the allocator holds free to the system (glibc's `malloc_trim`);
/// elsewhere nothing (other allocators return large blocks themselves).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn release_freed() {
    // SAFETY: malloc_trim takes no pointers and touches only glibc's free lists, under
    // the arenas' own locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_freed() {}
