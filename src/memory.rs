//! Giving memory back to the system after a big poll. A poll of tens of thousands of incidents
//! is hundreds of thousands of small allocations (the reply, its decoded form, the incidents,
//! the ones they replace). glibc keeps freed small blocks in its arenas for reuse and returns
//! only the top of a heap, so without this the cockpit's RSS stays at its highest poll for
//! good: 240 MB held for 50,000 alerts.

/// A batch this large is worth a trim: it takes the allocator's locks for a few
/// milliseconds, which only pays off after a poll that freed megabytes.
pub const TRIM_AFTER: usize = 1000;

/// Returns free memory in every arena to the system (`malloc_trim(0)`). Off the render loop:
/// callers run it on a blocking thread.
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers and only walks the allocator's own free lists,
    // under its locks; it is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
