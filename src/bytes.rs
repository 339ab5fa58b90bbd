//! The one scan the byte codecs share on a message's path (POP3 dot-unstuffing, line-ending normalisation, SMTP
//! dot-stuffing): where the next pair of neighbouring bytes needs attention. Mail is mostly plain lines, so each
//! codec copies the run before that pair in one piece and handles only the pair byte by byte.
//!
//! Measured on the 5 and 50 MiB benchmark messages (docs/benchmarks.md, "Where popfetch's time goes"): the three
//! codecs' per-line loops were ~60 % of popfetch's CPU time. The predicate is evaluated over fixed windows with
//! non-short-circuit operators, so the compiler turns each window into a few vector instructions.

/// Bytes looked at per window (plus one for the pair that straddles its end).
const WINDOW: usize = 64;

/// The first `i` with `hit(b[i], b[i + 1])`, or `None`.
///
/// Write `hit` with `&`, `|` and `!=` on `bool`s rather than `&&` and `||`: it is evaluated for every pair of a
/// window, and only branch-free predicates vectorise.
#[inline]
pub(crate) fn find_pair(b: &[u8], hit: impl Fn(u8, u8) -> bool + Copy) -> Option<usize> {
    let mut i = 0;
    while let Some(w) = b.get(i..i + WINDOW + 1) {
        let any = w[..WINDOW]
            .iter()
            .zip(&w[1..])
            .fold(false, |a, (&x, &y)| a | hit(x, y));
        if any {
            break;
        }
        i += WINDOW;
    }
    b[i..]
        .windows(2)
        .position(|p| hit(p[0], p[1]))
        .map(|p| i + p)
}

/// How many LF octets `b` holds (the RETR/LIST check counts them, P-19). Counted in runs of 255 into a `u8`, so
/// the compiler vectorises the inner loop; a plain `filter().count()` was the largest CPU item left on the
/// streamed path.
#[inline]
pub(crate) fn count_lf(b: &[u8]) -> u64 {
    b.chunks(255)
        .map(|c| u64::from(c.iter().fold(0u8, |n, &x| n + u8::from(x == b'\n'))))
        .sum()
}

/// Inputs for the codecs' tests: mail-like bytes with runs long enough to cross [`WINDOW`]s, CR, LF and `.` in
/// every arrangement, and a message cut at arbitrary points.
#[cfg(test)]
pub(crate) mod arb {
    use proptest::prelude::*;

    pub(crate) fn mail() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            (0usize..150).prop_map(|n| vec![b'a'; n]),
            Just(b"\r\n".to_vec()),
            Just(b"\r\n.".to_vec()),
            Just(b"\r".to_vec()),
            Just(b"\n".to_vec()),
            Just(b".".to_vec()),
        ];
        proptest::collection::vec(piece, 0..60).prop_map(|p| p.concat())
    }

    /// `msg` cut at `cuts` (taken modulo its length, in order).
    pub(crate) fn pieces<'a>(msg: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (msg.len() + 1)).collect();
        cuts.sort_unstable();
        let mut at = 0;
        let mut out = Vec::new();
        for cut in cuts {
            out.push(&msg[at..cut]);
            at = cut;
        }
        out.push(&msg[at..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::{count_lf, find_pair};

    #[test]
    fn counts_every_lf_across_the_255_octet_runs() {
        // All LF: a run of 255 must not overflow its u8 counter; lengths around the run boundaries.
        for len in [0, 1, 254, 255, 256, 510, 511, 1000] {
            let all = vec![b'\n'; len];
            assert_eq!(count_lf(&all), len as u64, "all LF, len {len}");
            let mixed: Vec<u8> = (0..len)
                .map(|i| if i % 3 == 0 { b'\n' } else { b'\r' })
                .collect();
            let want = mixed.iter().filter(|&&b| b == b'\n').count() as u64;
            assert_eq!(count_lf(&mixed), want, "mixed, len {len}");
        }
    }

    fn naive(b: &[u8], hit: impl Fn(u8, u8) -> bool) -> Option<usize> {
        b.windows(2).position(|p| hit(p[0], p[1]))
    }

    #[test]
    fn finds_the_first_pair_wherever_the_windows_fall() {
        let hit = |x: u8, y: u8| (x == b'\n') & (y == b'.');
        for len in 0..200 {
            let mut b = vec![b'a'; len];
            assert_eq!(find_pair(&b, hit), None, "len {len}");
            for at in 0..len.saturating_sub(1) {
                b[at] = b'\n';
                b[at + 1] = b'.';
                assert_eq!(find_pair(&b, hit), naive(&b, hit), "len {len} at {at}");
                // A later pair never hides the first one.
                if at + 3 < len {
                    b[at + 2] = b'\n';
                    b[at + 3] = b'.';
                    assert_eq!(find_pair(&b, hit), Some(at), "len {len} at {at}");
                    b[at + 2] = b'a';
                    b[at + 3] = b'a';
                }
                b[at] = b'a';
                b[at + 1] = b'a';
            }
        }
    }
}
