//! Segments (VMAs): contiguous virtual ranges with permissions, the OS's view of an address space.

use serde::{Deserialize, Serialize};
use vmsim_hw::pte::Pte;
use vmsim_hw::{AccessKind, VirtAddr};

/// Permissions of a segment: read, write, execute, and user (accessible in user mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SegmentPerms {
    pub r: bool,
    pub w: bool,
    pub x: bool,
    pub u: bool,
}

impl SegmentPerms {
    pub const RWXU: SegmentPerms = SegmentPerms {
        r: true,
        w: true,
        x: true,
        u: true,
    };

    /// Whether the segment allows an access of `kind` (in user mode if `user`).
    pub fn permits(self, kind: AccessKind, user: bool) -> bool {
        if user && !self.u {
            return false;
        }
        match kind {
            AccessKind::Read => self.r,
            AccessKind::Write => self.w,
            AccessKind::Execute => self.x,
        }
    }

    /// Parse permissions written as letters from "rwxu" (each at most once, any order; "-" is
    /// ignored so that "rw-u" reads like `ls -l`). "" or "-" is no access at all.
    pub fn parse(s: &str) -> Result<SegmentPerms, String> {
        let mut p = SegmentPerms {
            r: false,
            w: false,
            x: false,
            u: false,
        };
        for c in s.chars() {
            let slot = match c {
                'r' => &mut p.r,
                'w' => &mut p.w,
                'x' => &mut p.x,
                'u' => &mut p.u,
                '-' => continue,
                _ => {
                    return Err(format!(
                        "bad permissions {s:?}: use letters from \"rwxu\" (read, write, execute, user)"
                    ));
                }
            };
            if *slot {
                return Err(format!("bad permissions {s:?}: {c:?} appears twice"));
            }
            *slot = true;
        }
        Ok(p)
    }

    /// The leaf PTE flags that implement these permissions (x86 cannot express write-only or
    /// execute-only: a present page is readable).
    pub fn pte_flags(self) -> u64 {
        let mut f = Pte::P;
        if self.w {
            f |= Pte::RW;
        }
        if self.u {
            f |= Pte::US;
        }
        if !self.x {
            f |= Pte::NX;
        }
        f
    }
}

/// What backs a segment. In scenario files: `"anonymous"`, `"shared:NAME"` or `"dma"`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum SegmentKind {
    /// Private zero-filled memory, allocated on first touch, evictable to swap.
    Anonymous,
    /// Memory shared by every segment of the same name, in any process and at any address:
    /// they map the same frames (page i of each maps the object's page i).
    Shared(String),
    /// Memory pinned for a device's DMA: populated when the process is created and never
    /// evicted (as a driver's `dma_alloc_coherent` buffer is).
    Dma,
    /// The kernel's own memory (`os.kernel_pages`), in the upper canonical half: the same
    /// pinned frames mapped in every process, supervisor-only, with the G bit. The kernel
    /// adds it; a scenario cannot declare it.
    Kernel,
}

impl TryFrom<String> for SegmentKind {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "anonymous" => Ok(SegmentKind::Anonymous),
            "dma" => Ok(SegmentKind::Dma),
            _ => match s.strip_prefix("shared:") {
                Some(name) if !name.is_empty() && !name.starts_with('(') => {
                    Ok(SegmentKind::Shared(name.to_string()))
                }
                _ => Err(format!(
                    "unknown segment kind {s:?}: expected \"anonymous\", \"shared:NAME\" or \"dma\""
                )),
            },
        }
    }
}

impl From<SegmentKind> for String {
    fn from(k: SegmentKind) -> String {
        k.to_string()
    }
}

impl std::fmt::Display for SegmentKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SegmentKind::Anonymous => f.write_str("anonymous"),
            SegmentKind::Shared(n) => write!(f, "shared:{n}"),
            SegmentKind::Dma => f.write_str("dma"),
            SegmentKind::Kernel => f.write_str("kernel"),
        }
    }
}

/// A virtual range [start, end) with permissions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub start: VirtAddr,
    pub end: VirtAddr,
    pub perms: SegmentPerms,
    pub kind: SegmentKind,
}

impl Segment {
    pub fn contains(&self, va: VirtAddr) -> bool {
        self.start <= va && va < self.end
    }

    /// The leaf PTE flags of its pages: its permissions', plus G for the kernel's memory.
    pub fn leaf_flags(&self) -> u64 {
        let f = self.perms.pte_flags();
        if self.kind == SegmentKind::Kernel {
            f | Pte::G
        } else {
            f
        }
    }
}

impl TryFrom<String> for SegmentPerms {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        SegmentPerms::parse(&s)
    }
}

impl From<SegmentPerms> for String {
    fn from(p: SegmentPerms) -> String {
        p.to_string()
    }
}

impl std::fmt::Display for SegmentPerms {
    /// Always four characters, e.g. "rw-u", "r---".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = |b: bool, ch: char| if b { ch } else { '-' };
        write!(
            f,
            "{}{}{}{}",
            c(self.r, 'r'),
            c(self.w, 'w'),
            c(self.x, 'x'),
            c(self.u, 'u')
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perms_parse_and_print() {
        let p = SegmentPerms::parse("rwu").unwrap();
        assert!(p.r && p.w && !p.x && p.u);
        assert_eq!(p.to_string(), "rw-u");
        assert_eq!(SegmentPerms::parse("rw-u").unwrap(), p);
        assert!(SegmentPerms::parse("rr").is_err());
        assert!(SegmentPerms::parse("rq").is_err());
    }

    #[test]
    fn kinds_parse_and_print() {
        for s in ["anonymous", "dma", "shared:buf"] {
            assert_eq!(SegmentKind::try_from(s.to_string()).unwrap().to_string(), s);
        }
        assert!(SegmentKind::try_from("shared:".to_string()).is_err());
        assert!(SegmentKind::try_from("file".to_string()).is_err());
    }
}
