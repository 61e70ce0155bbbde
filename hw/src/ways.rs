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

/// The lowest way of a set of 32-bit words (`set.len() == N`) whose bits under `mask` equal
/// `want` (the bits outside `mask`, such as a dirty flag, are not compared).
///
/// On x86-64 the ways are compared four at a time with SSE2 (part of every x86-64 CPU) into a
/// bit mask whose lowest set bit is the way: no branch per way, so a hit in a random way costs
/// no branch misprediction (the hit way of a large cache is close to random). Elsewhere, and for
/// other `N`, a plain scan.
#[inline(always)]
pub(crate) fn first_of32<const N: usize>(set: &[u32], want: u32, mask: u32) -> Option<usize> {
    let set: &[u32; N] = set.try_into().expect("a set of N ways");
    #[cfg(target_arch = "x86_64")]
    if N == 4 || N == 8 || N == 16 {
        let hits = sse2::equal_mask(set, want, mask);
        return (hits != 0).then(|| hits.trailing_zeros() as usize);
    }
    set.iter().position(|&t| t & mask == want)
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_and_si128, _mm_castsi128_ps, _mm_cmpeq_epi32, _mm_loadu_si128,
        _mm_movemask_epi8, _mm_movemask_ps, _mm_packs_epi16, _mm_packs_epi32, _mm_set1_epi32,
        _mm_setzero_si128,
    };

    /// Bit `w` set when `set[w] & mask == want`, for `N` of 4, 8 or 16.
    #[inline(always)]
    pub(super) fn equal_mask<const N: usize>(set: &[u32; N], want: u32, mask: u32) -> u32 {
        // SAFETY: SSE2 is part of the x86-64 baseline, so the intrinsics are available on every
        // x86-64 CPU; each unaligned load reads four words at index 4 * k < N, inside `set`.
        unsafe {
            let w = _mm_set1_epi32(want as i32);
            let m = _mm_set1_epi32(mask as i32);
            let p = set.as_ptr() as *const __m128i;
            let eq = |k: usize| _mm_cmpeq_epi32(_mm_and_si128(_mm_loadu_si128(p.add(k)), m), w);
            match N {
                4 => _mm_movemask_ps(_mm_castsi128_ps(eq(0))) as u32,
                8 => {
                    let words = _mm_packs_epi32(eq(0), eq(1));
                    _mm_movemask_epi8(_mm_packs_epi16(words, _mm_setzero_si128())) as u32
                }
                16 => {
                    let lo = _mm_packs_epi32(eq(0), eq(1));
                    let hi = _mm_packs_epi32(eq(2), eq(3));
                    _mm_movemask_epi8(_mm_packs_epi16(lo, hi)) as u32
                }
                _ => unreachable!("equal_mask is for 4, 8 or 16 ways"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every position and absence, for each vector width and a fallback width, against a scan;
    /// with duplicates the lowest way wins; bits outside the mask are ignored.
    #[test]
    fn vector_search_matches_a_scan() {
        fn check<const N: usize>() {
            const ALL: u32 = u32::MAX;
            let mut set: Vec<u32> = (0..N as u32).map(|w| 1000 + w * 7).collect();
            for want in (990..1000 + 7 * N as u32 + 3).chain([0, u32::MAX]) {
                let scan = set.iter().position(|&t| t == want);
                assert_eq!(first_of32::<N>(&set, want, ALL), scan, "N {N} want {want}");
            }
            // A duplicate above the first match, and the top way alone.
            set[N - 1] = set[0];
            assert_eq!(first_of32::<N>(&set, set[0], ALL), Some(0));
            set[0] = 1;
            assert_eq!(first_of32::<N>(&set, set[N - 1], ALL), Some(N - 1));
            // Sign bits: with every bit compared, bit 31 counts; masked out, it does not.
            set[N / 2] = 0x8000_0001;
            assert_eq!(first_of32::<N>(&set, 0x8000_0001, ALL), Some(N / 2));
            assert_eq!(first_of32::<N>(&set, 0x0000_0001, ALL), Some(0));
            set[0] = 5;
            assert_eq!(first_of32::<N>(&set, 0x0000_0001, ALL), None);
            assert_eq!(first_of32::<N>(&set, 0x0000_0001, !(1 << 31)), Some(N / 2));
        }
        check::<4>();
        check::<8>();
        check::<16>();
        check::<2>();
        check::<12>();
    }
}
