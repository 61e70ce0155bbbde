//! The tag search shared by the set-associative structures (data caches, TLBs, page-walk
//! caches): which way of a set holds a tag.

/// The first of the `N` tag words of `set` (`set.len() == N`) equal to `want`: with `N` known at
/// compile time the compiler unrolls the scan into one compare and branch per way, without a
/// loop counter. Each structure picks `N` for the associativities it sees most and falls back to
/// a scan of its own for the others; every search returns the lowest matching way.
#[inline(always)]
pub(crate) fn first_of<const N: usize>(set: &[u64], want: u64) -> Option<usize> {
    let set: &[u64; N] = set.try_into().expect("a set of N ways");
    set.iter().position(|&t| t == want)
}
