//! Case-insensitive substring search without per-document allocation.
//!
//! Case folding is Unicode per-character lower-casing (`char::to_lowercase`) on both sides.

/// A pre-lowered needle for case-insensitive substring search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Needle {
    lower: String,
    ascii: bool,
}

/// Lower-cases `s` character by character (no context-dependent rules such as final sigma).
pub(crate) fn lower(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

impl Needle {
    /// Pre-lowers `s`.
    pub(crate) fn new(s: &str) -> Self {
        let lower = lower(s);
        let ascii = lower.is_ascii();
        Needle { lower, ascii }
    }

    /// The lower-cased needle.
    pub(crate) fn lowered(&self) -> &str {
        &self.lower
    }

    /// Whether the lower-cased needle is ASCII.
    pub(crate) fn is_ascii(&self) -> bool {
        self.ascii
    }

    /// Whether the lower-cased needle occurs in the lower-cased `hay`.
    pub(crate) fn is_in(&self, hay: &str) -> bool {
        if self.lower.is_empty() {
            return true;
        }
        if hay.is_ascii() {
            // Lower-casing ASCII yields ASCII, so a non-ASCII needle cannot occur.
            if !self.ascii {
                return false;
            }
            let n = self.lower.as_bytes();
            let h = hay.as_bytes();
            if n.len() > h.len() {
                return false;
            }
            return h
                .windows(n.len())
                .any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b));
        }
        hay.char_indices().any(|(i, _)| {
            let mut folded = hay[i..].chars().flat_map(char::to_lowercase);
            self.lower.chars().all(|c| folded.next() == Some(c))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_and_unicode() {
        assert!(Needle::new("AdMi").is_in("the admin"));
        assert!(Needle::new("").is_in(""));
        assert!(!Needle::new("x").is_in(""));
        assert!(!Needle::new("adminx").is_in("admin"));
        assert!(Needle::new("ÉCOLE").is_in("une école"));
        assert!(Needle::new("école").is_in("UNE ÉCOLE"));
        assert!(!Needle::new("é").is_in("e"));
        assert!(Needle::new("straße").is_in("STRAßE"));
        // Kelvin sign lower-cases to ASCII 'k'.
        assert!(Needle::new("k").is_in("\u{212A}"));
        assert!(Needle::new("σ").is_in("ΟΔΟΣ"));
        assert!(!Needle::new("é").is_in("plain ascii"));
    }
}
