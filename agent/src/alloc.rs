//! The static builds' allocator: a start-up arena in front of mimalloc.
//!
//! A one-shot command (`max-pods`, `plan`, `instance-types`) allocates a few tens of
//! kilobytes and exits. Served by mimalloc, its first allocations set up mimalloc's arena (a
//! 1 GiB reservation whose bitmaps are written at first use) and a fresh mimalloc page per
//! size class: about 80 page faults, more than the rest of the run, and page faults, not
//! instructions, are most of what a start costs (README, "Start-up"). So every process
//! allocates first by bumping an offset in [`ARENA_BYTES`] of `.bss` (pages the kernel maps
//! only when touched) and goes to mimalloc only when a block does not fit, or after
//! [`StartupArena::close`]: the daemon and the subnet reader close it when they start, so
//! their steady state is mimalloc's alone.
//!
//! The arena does not reuse memory, except that the last block given out grows, shrinks and
//! is given back in place (a `Vec` or `String` being built). Blocks handed out are disjoint
//! ranges of the arena, claimed by compare-and-swap on one offset.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The arena's size: more than `max-pods`, `plan` or `init` allocates in a run.
pub const ARENA_BYTES: usize = 256 * 1024;

#[repr(C, align(4096))]
struct Bytes(UnsafeCell<[u8; ARENA_BYTES]>);

/// A bump arena of [`ARENA_BYTES`], then `A` (mimalloc in the static builds).
#[derive(Debug)]
pub struct StartupArena<A> {
    bytes: Bytes,
    /// Offset of the first byte not given out; [`ARENA_BYTES`] once closed.
    used: AtomicUsize,
    then: A,
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{ARENA_BYTES} bytes")
    }
}

// SAFETY: the arena's bytes are only reached through the blocks it gives out, which are
// disjoint (each claimed by one successful compare-and-swap of `used`); the AcqRel exchange
// orders a block's last use before it is given back ahead of its next owner's first use.
unsafe impl<A: Sync> Sync for StartupArena<A> {}

impl<A> StartupArena<A> {
    pub const fn new(then: A) -> Self {
        Self {
            bytes: Bytes(UnsafeCell::new([0; ARENA_BYTES])),
            used: AtomicUsize::new(0),
            then,
        }
    }

    /// No more blocks from the arena: a long-running process's allocations all go to `A`,
    /// which reuses freed memory. Blocks already given out stay valid.
    pub fn close(&self) {
        self.used.store(ARENA_BYTES, Ordering::Release);
    }

    fn base(&self) -> *mut u8 {
        self.bytes.0.get().cast()
    }

    /// The offset of `ptr` in the arena, if the arena gave it out.
    fn offset(&self, ptr: *mut u8) -> Option<usize> {
        (ptr as usize)
            .checked_sub(self.base() as usize)
            .filter(|&offset| offset < ARENA_BYTES)
    }

    /// Claims a block for `layout`, or `None` when it does not fit in what is left.
    fn claim(&self, layout: Layout) -> Option<*mut u8> {
        let base = self.base() as usize;
        let mut used = self.used.load(Ordering::Acquire);
        loop {
            let start = (base + used).checked_next_multiple_of(layout.align())? - base;
            let end = start.checked_add(layout.size())?;
            if end > ARENA_BYTES {
                return None;
            }
            match self
                .used
                .compare_exchange_weak(used, end, Ordering::AcqRel, Ordering::Acquire)
            {
                // `start < ARENA_BYTES`: the pointer stays inside the arena's allocation.
                Ok(_) => return Some(self.base().wrapping_add(start)),
                Err(now) => used = now,
            }
        }
    }

    /// Moves the end of the last block given out, at `start` with `size` bytes, to
    /// `start + new_size`: false when it is not the last block or the arena is too small.
    fn resize_last(&self, start: usize, size: usize, new_size: usize) -> bool {
        match start.checked_add(new_size) {
            Some(end) if end <= ARENA_BYTES => self
                .used
                .compare_exchange(start + size, end, Ordering::AcqRel, Ordering::Acquire)
                .is_ok(),
            _ => false,
        }
    }
}

// SAFETY: every block is either a fresh disjoint range of the arena, aligned and sized as
// its layout asks (`claim`), or `A`'s; `dealloc` and `realloc` tell the two apart by address
// and hand `A`'s blocks back to `A` with the layout they were made with.
unsafe impl<A: GlobalAlloc> GlobalAlloc for StartupArena<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.claim(layout) {
            Some(ptr) => ptr,
            // SAFETY: the caller's layout, passed on.
            None => unsafe { self.then.alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match self.claim(layout) {
            Some(ptr) => {
                // SAFETY: `ptr` is a block of `layout.size()` bytes just claimed, which may
                // hold a given-back block's bytes.
                unsafe { ptr.write_bytes(0, layout.size()) };
                ptr
            }
            // SAFETY: the caller's layout, passed on.
            None => unsafe { self.then.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match self.offset(ptr) {
            // Given back only if it is the last block; otherwise left until the process ends.
            Some(start) => {
                self.resize_last(start, layout.size(), 0);
            }
            // SAFETY: `A` gave out `ptr` with this layout.
            None => unsafe { self.then.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Some(start) = self.offset(ptr) else {
            // SAFETY: `A` gave out `ptr` with this layout; the caller's new size.
            return unsafe { self.then.realloc(ptr, layout, new_size) };
        };
        if self.resize_last(start, layout.size(), new_size) || new_size <= layout.size() {
            return ptr;
        }
        // SAFETY: `realloc`'s contract: `new_size`, rounded up to the alignment, does not
        // overflow `isize`.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: a non-zero size (larger than the old one) with the old, valid alignment.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks hold at least `layout.size()` bytes and are distinct.
            unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size()) };
            // SAFETY: the arena gave out `ptr` with `layout`.
            unsafe { self.dealloc(ptr, layout) };
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use std::alloc::System;

    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn blocks_are_aligned_disjoint_and_the_last_one_resizes_in_place() {
        let arena = Box::new(StartupArena::new(System));
        // SAFETY: non-zero layouts; each block used within its size and freed with its layout.
        unsafe {
            let a = arena.alloc(layout(3, 1));
            let b = arena.alloc(layout(16, 64));
            assert_eq!(b as usize % 64, 0);
            assert!(b as usize >= a as usize + 3);
            a.write_bytes(1, 3);
            b.write_bytes(2, 16);
            // The last block grows where it is; an earlier one moves, keeping its bytes.
            assert_eq!(arena.realloc(b, layout(16, 64), 1000), b);
            let moved = arena.realloc(a, layout(3, 1), 10);
            assert_ne!(moved, a);
            assert_eq!(std::slice::from_raw_parts(moved, 3), [1, 1, 1]);
            // Giving back the last block makes its bytes the next block's, zeroed if asked.
            arena.dealloc(moved, layout(10, 1));
            let zeroed = arena.alloc_zeroed(layout(10, 1));
            assert_eq!(zeroed, moved);
            assert_eq!(std::slice::from_raw_parts(zeroed, 10), [0; 10]);
        }
    }

    #[test]
    fn what_does_not_fit_and_everything_after_close_comes_from_the_next_allocator() {
        let arena = Box::new(StartupArena::new(System));
        // SAFETY: as above.
        unsafe {
            let big = arena.alloc(layout(ARENA_BYTES + 1, 8));
            assert!(arena.offset(big).is_none());
            let small = arena.alloc(layout(8, 8));
            assert!(arena.offset(small).is_some());
            // Growing past the arena's end moves the block to the next allocator.
            let grown = arena.realloc(small, layout(8, 8), ARENA_BYTES + 8);
            assert!(arena.offset(grown).is_none());
            arena.close();
            let after = arena.alloc(layout(8, 8));
            assert!(arena.offset(after).is_none());
            arena.dealloc(big, layout(ARENA_BYTES + 1, 8));
            arena.dealloc(grown, layout(ARENA_BYTES + 8, 8));
            arena.dealloc(after, layout(8, 8));
        }
    }

    #[test]
    fn threads_get_disjoint_blocks() {
        let arena = StartupArena::new(System);
        let blocks: Vec<usize> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        // SAFETY: a non-zero layout; the blocks are only compared.
                        (0..100)
                            .map(|_| unsafe { arena.alloc(layout(24, 8)) } as usize)
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        let mut sorted = blocks.clone();
        sorted.sort_unstable();
        assert_eq!(sorted.len(), 400);
        assert!(sorted.windows(2).all(|w| w[1] >= w[0] + 24));
    }
}
