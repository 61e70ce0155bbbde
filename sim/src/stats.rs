//! `stats.json`: plain serde structs that mirror the component tree. Keys are stable: add, never
//! rename (ARCHITECTURE.md section 6). Maps are `BTreeMap`, so the output is byte-identical for
//! the same configuration and seed.

use crate::histogram::LatencySummary;
use crate::system::{IntegrityStats, System};
use serde::Serialize;
use std::collections::BTreeMap;
use vmsim_hw::cache::CacheStats;
use vmsim_hw::disk::DiskStats;
use vmsim_hw::dma::DmaStats;
use vmsim_hw::dram::DramStats;
use vmsim_hw::pwc::PwcStats;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TlbLevelStats {
    pub lookups: u64,
    pub hits: u64,
    pub misses: u64,
    pub hit_rate: f64,
    /// Misses per thousand instructions.
    pub mpki: f64,
    pub fills: u64,
    pub evictions: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WalkerSection {
    pub walks: u64,
    /// PTE reads (page-walk-cache hits skip reads).
    pub mem_refs: u64,
    pub mem_refs_per_walk: f64,
    /// A/D-bit write-backs to leaf PTEs (by walks, and by writes through a clean TLB entry).
    pub ad_writes: u64,
    pub faults: u64,
    /// PTE reads served by a data cache, and by DRAM.
    pub pte_cache_hits: u64,
    pub pte_dram_reads: u64,
    /// Walk latency in core cycles, from the walker taking the request to its answer.
    pub latency: LatencySummary,
    pub pwc: PwcStats,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FaultSection {
    pub minor: u64,
    pub major: u64,
    pub protection: u64,
    pub segv_kills: u64,
    /// Processes killed with SIGBUS (a page lost on the swap device).
    pub bus_kills: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OsSection {
    pub context_switches: u64,
    pub tlb_flushes: u64,
    /// Hardware ASIDs recycled (with `os.pcid`), each with a flush of its entries.
    pub asid_recycles: u64,
    /// TLB misses caused by context switches: walks for pages whose translation a switch's
    /// flush (or an ASID recycle) had dropped.
    pub switch_tlb_misses: u64,
    pub evictions: u64,
    pub swap_ins: u64,
    pub swap_outs: u64,
    /// Windows of `os.thrashing_window` cycles in which paging faults took more than
    /// `os.thrashing_threshold` of the cycles.
    pub thrashing_windows: u64,
    /// Swap writes that failed (their pages are lost), and swap-ins whose content differed from
    /// what was written (always 0 unless the model is broken).
    pub swap_write_errors: u64,
    pub swap_integrity_errors: u64,
    /// Victims read out whose page died meanwhile (no write).
    pub swap_outs_dropped: u64,
    /// Swap slots in use at the end.
    pub swap_slots_used: u64,
    pub syscalls: u64,
    pub frames: u64,
    pub frames_free: u64,
    pub data_pages: u64,
    pub page_table_pages: u64,
    /// Cycles the kernel spent servicing faults.
    pub fault_cycles: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CoreSection {
    pub instructions: u64,
    /// 4 KiB page translations (an access spanning two pages counts two; retries count again).
    pub page_translations: u64,
    /// Cycles stalled on translation, all included.
    pub translation_cycles: u64,
    /// Share of all cycles spent on translation.
    pub translation_share: f64,
    /// Cycles lost beyond an L1 TLB hit: L2 TLB lookups, walks and faults.
    pub tlb_miss_cycles: u64,
    pub tlb_miss_share: f64,
    pub fault_cycles: u64,
    pub data_cycles: u64,
}

/// One process (`processes` in stats.json).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProcessSection {
    pub pid: u32,
    pub name: String,
    pub accesses: u64,
    pub instructions: u64,
    pub walks: u64,
    pub faults: u64,
    pub minor_faults: u64,
    pub major_faults: u64,
    pub protection_faults: u64,
    pub syscalls: u64,
    /// Cycles its accesses stalled on translation, and the share of its cycles on the core.
    pub translation_cycles: u64,
    pub translation_share: f64,
    /// Of those, cycles beyond an L1 TLB hit (L2 lookups, walks, faults): the TLB miss cost.
    pub tlb_miss_cycles: u64,
    pub tlb_miss_share: f64,
    /// Cycles from trap to reply of its faults.
    pub fault_cycles: u64,
    /// Cycles it held the core.
    pub core_cycles: u64,
    /// Times it gave up the core while a fault of its waited for the disk (blocked on I/O).
    pub blocked: u64,
    /// Its walks for pages whose translation a context switch had dropped.
    pub switch_tlb_misses: u64,
    pub resident_pages: u64,
    /// "running", "exited", or e.g. "SIGSEGV at 0x1000: write to a read-only segment".
    pub exit: String,
}

/// A device (`devices` in stats.json).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeviceSection {
    pub pid: u32,
    /// Bursts submitted to the DMA engine (a device stops when its process ends), and
    /// completed.
    pub sent: u64,
    pub delivered: u64,
}

/// The whole of `stats.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SystemStats {
    pub cycles: u64,
    pub accesses: u64,
    pub tlb: BTreeMap<&'static str, TlbLevelStats>,
    pub walker: WalkerSection,
    pub faults: FaultSection,
    pub os: OsSection,
    pub dram: DramStats,
    pub caches: BTreeMap<&'static str, CacheStats>,
    pub core: CoreSection,
    pub dma: DmaStats,
    pub disk: DiskStats,
    pub integrity: IntegrityStats,
    pub processes: Vec<ProcessSection>,
    pub devices: Vec<DeviceSection>,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

impl SystemStats {
    /// Collect from a finished (or running) system.
    pub fn collect(sys: &System) -> SystemStats {
        let core = sys.core.stats();
        let instrs = core.instructions;
        let cycles = sys.cycles().0;
        let tlb = sys
            .core
            .tlb_stats()
            .into_iter()
            .map(|(name, s)| {
                (
                    name,
                    TlbLevelStats {
                        lookups: s.lookups,
                        hits: s.hits,
                        misses: s.misses,
                        hit_rate: ratio(s.hits, s.lookups),
                        mpki: ratio(s.misses * 1000, instrs),
                        fills: s.fills,
                        evictions: s.evictions,
                    },
                )
            })
            .collect();
        let w = sys.walkers.stats();
        let os = sys.kernel.stats();
        let frames = sys.kernel.frames();
        let caches = ["l1i", "l1d", "l2", "llc"]
            .into_iter()
            .filter_map(|n| sys.mem.cache(n).map(|c| (n, c.stats().clone())))
            .filter(|_| sys.mem.caches_enabled())
            .collect();
        SystemStats {
            cycles,
            accesses: core.accesses,
            tlb,
            walker: WalkerSection {
                walks: w.walks,
                mem_refs: w.mem_refs,
                mem_refs_per_walk: ratio(w.mem_refs, w.walks),
                ad_writes: w.ad_writes + core.dirty_bit_updates,
                faults: w.faults,
                pte_cache_hits: w.pte_cache_hits,
                pte_dram_reads: w.pte_dram_reads,
                latency: sys.walk_latency().summary(),
                pwc: sys.walkers.pwc_stats().clone(),
            },
            faults: FaultSection {
                minor: os.minor_faults,
                major: os.major_faults,
                protection: os.protection_faults,
                segv_kills: os.segv_kills,
                bus_kills: os.bus_kills,
            },
            os: OsSection {
                context_switches: os.context_switches,
                tlb_flushes: os.tlb_flushes,
                asid_recycles: os.asid_recycles,
                switch_tlb_misses: sys.switch_tlb_misses(),
                evictions: os.evictions,
                swap_ins: os.swap_ins,
                swap_outs: os.swap_outs,
                thrashing_windows: os.thrashing_windows,
                swap_write_errors: os.swap_write_errors,
                swap_integrity_errors: os.swap_integrity_errors,
                swap_outs_dropped: os.swap_outs_dropped,
                swap_slots_used: sys.kernel.swap().used(),
                syscalls: os.syscalls,
                frames: frames.total(),
                frames_free: frames.free_count(),
                data_pages: frames.data_count(),
                page_table_pages: frames.table_count(),
                fault_cycles: os.fault_cycles,
            },
            dram: sys.mem.dram().stats().clone(),
            caches,
            core: CoreSection {
                instructions: instrs,
                page_translations: core.page_translations,
                translation_cycles: core.translation_cycles,
                translation_share: ratio(core.translation_cycles, cycles),
                tlb_miss_cycles: core.tlb_miss_cycles,
                tlb_miss_share: ratio(core.tlb_miss_cycles, cycles),
                fault_cycles: core.fault_cycles,
                data_cycles: core.data_cycles,
            },
            dma: sys.dma.stats().clone(),
            disk: sys.disk.stats().clone(),
            integrity: sys.integrity().clone(),
            processes: sys
                .process_stats()
                .map(|(pid, name, r)| {
                    let k = sys.kernel.process(pid);
                    let ks = k.map(|p| p.stats.clone()).unwrap_or_default();
                    ProcessSection {
                        pid: pid.0,
                        name: name.to_string(),
                        accesses: r.accesses,
                        instructions: r.instructions,
                        walks: r.walks,
                        faults: ks.faults,
                        minor_faults: ks.minor_faults,
                        major_faults: ks.major_faults,
                        protection_faults: ks.protection_faults,
                        syscalls: ks.syscalls,
                        translation_cycles: r.translation_cycles,
                        translation_share: ratio(r.translation_cycles, r.core_cycles),
                        tlb_miss_cycles: r.tlb_miss_cycles,
                        tlb_miss_share: ratio(r.tlb_miss_cycles, r.core_cycles),
                        fault_cycles: ks.fault_cycles,
                        core_cycles: r.core_cycles,
                        blocked: r.blocked,
                        switch_tlb_misses: r.switch_tlb_misses,
                        resident_pages: k.map_or(0, |p| p.resident_pages),
                        exit: k.map_or_else(String::new, |p| p.status.describe()),
                    }
                })
                .collect(),
            devices: sys
                .devices()
                .iter()
                .map(|d| DeviceSection {
                    pid: d.spec.pid.0,
                    sent: d.sent(),
                    delivered: d.delivered,
                })
                .collect(),
        }
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("stats serialize");
        s.push('\n');
        s
    }
}
