//! A global allocator that counts: [`CountingAllocator`] hands every request to
//! [`std::alloc::System`] and adds one to a counter, and the size to another, on the way.
//!
//! Bench-only and unpublished: cachefront's `allocs` benchmark installs it to check the
//! allocation budget of the core's hot paths. It lives in its own crate because the workspace
//! forbids `unsafe_code` and a [`GlobalAlloc`] impl needs `unsafe`; the benchmark itself only
//! declares the static.
//!
//! ```
//! use cachefront_alloc_counter::CountingAllocator;
//!
//! #[global_allocator]
//! static ALLOCATOR: CountingAllocator = CountingAllocator::new();
//!
//! let before = ALLOCATOR.counts();
//! let boxed = std::hint::black_box(Box::new([0_u8; 100]));
//! let made = ALLOCATOR.counts() - before;
//! assert_eq!((made.allocations, made.bytes), (1, 100));
//! drop(boxed);
//! ```

use std::{
    alloc::{GlobalAlloc, Layout, System},
    ops::Sub,
    sync::atomic::{AtomicU64, Ordering},
};

/// [`System`] with a count of the allocations made through it and of the bytes they asked for.
///
/// An allocation is a call to `alloc`, `alloc_zeroed` or `realloc` (each is a trip to the
/// allocator); its bytes are the size asked for (for `realloc`, the new size). Frees are not
/// counted. The counters are process-wide: measure where no other thread allocates.
#[derive(Debug)]
pub struct CountingAllocator {
    allocations: AtomicU64,
    bytes: AtomicU64,
}

/// A reading of a [`CountingAllocator`]'s counters; subtract two to get what happened between.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Calls to `alloc`, `alloc_zeroed` and `realloc`.
    pub allocations: u64,
    /// Bytes those calls asked for.
    pub bytes: u64,
}

impl CountingAllocator {
    /// A counter at zero, for a `#[global_allocator]` static.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            allocations: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    /// The counters now.
    pub fn counts(&self) -> Counts {
        Counts {
            allocations: self.allocations.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }

    fn count(&self, size: usize) {
        // Relaxed: the counters order nothing, and a benchmark reads them on the thread that
        // allocated.
        self.allocations.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(size as u64, Ordering::Relaxed);
    }
}

impl Default for CountingAllocator {
    fn default() -> Self {
        Self::new()
    }
}

impl Sub for Counts {
    type Output = Self;

    fn sub(self, earlier: Self) -> Self {
        Self {
            allocations: self.allocations - earlier.allocations,
            bytes: self.bytes - earlier.bytes,
        }
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s
// guarantees are ours; counting touches only atomics and never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.count(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.count(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.count(new_size);
        // SAFETY: `ptr` came from `System` with `layout`, and the caller upholds `realloc`'s
        // contract for `new_size`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
