//! Counting heap bytes (feature `heap-count`), for tests and measurements of what
//! parsing or reading a hostile message costs.
//!
//! ```ignore
//! #[global_allocator]
//! static HEAP: ferry_protocol::heap_count::CountingAlloc = ferry_protocol::heap_count::CountingAlloc;
//! let mark = ferry_protocol::heap_count::mark();
//! // ... work ...
//! let peak = ferry_protocol::heap_count::peak_since(mark);
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting live heap bytes and their peak (process-wide).
pub struct CountingAlloc;

// SAFETY: every call is forwarded unchanged to the system allocator; only counters are added.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = NOW.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        NOW.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract for `dealloc` is passed on as is.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Start measuring: the bytes live now, and the peak reset to them.
pub fn mark() -> usize {
    let base = NOW.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    base
}

/// The most bytes allocated beyond those live at `mark`, since then.
pub fn peak_since(mark: usize) -> usize {
    PEAK.load(Ordering::SeqCst).saturating_sub(mark)
}
