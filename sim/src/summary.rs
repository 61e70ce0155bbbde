//! The summary table printed on stdout after a run: the figures an architect wants first.

use crate::run::RunOutput;
use std::fmt::Write as _;

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

/// Render the summary.
pub fn render(out: &RunOutput) -> String {
    let s = &out.stats;
    let mut t = String::new();
    let _ = writeln!(t, "vmsim: {}", out.workload);
    let _ = writeln!(
        t,
        "  {} accesses, {} instructions, {} cycles (IPC {:.3})",
        s.accesses,
        s.core.instructions,
        s.cycles,
        if s.cycles == 0 {
            0.0
        } else {
            s.core.instructions as f64 / s.cycles as f64
        }
    );
    let _ = writeln!(t);
    let _ = writeln!(
        t,
        "  {:<6} {:>12} {:>12} {:>12} {:>9} {:>9}",
        "TLB", "lookups", "hits", "misses", "hit rate", "MPKI"
    );
    for name in ["l1i", "l1d", "l2"] {
        if let Some(l) = s.tlb.get(name) {
            let _ = writeln!(
                t,
                "  {:<6} {:>12} {:>12} {:>12} {:>9} {:>9.3}",
                name,
                l.lookups,
                l.hits,
                l.misses,
                pct(l.hit_rate),
                l.mpki
            );
        }
    }
    let w = &s.walker;
    let _ = writeln!(t);
    let _ = writeln!(
        t,
        "  page walks      {:>10}   memory refs/walk {:.3}   A/D writes {}",
        w.walks, w.mem_refs_per_walk, w.ad_writes
    );
    let _ = writeln!(
        t,
        "  walk latency    mean {:.1}  p50 {}  p99 {}  max {} cycles",
        w.latency.mean, w.latency.p50, w.latency.p99, w.latency.max
    );
    let _ = writeln!(
        t,
        "  PWC hits        PML4E {}/{}  PDPTE {}/{}  PDE {}/{}",
        w.pwc.pml4e.hits,
        w.pwc.pml4e.lookups,
        w.pwc.pdpte.hits,
        w.pwc.pdpte.lookups,
        w.pwc.pde.hits,
        w.pwc.pde.lookups
    );
    let _ = writeln!(
        t,
        "  PTE reads       {} from caches, {} from DRAM",
        w.pte_cache_hits, w.pte_dram_reads
    );
    let _ = writeln!(
        t,
        "  faults          minor {}  major {}  protection {}  SIGSEGV kills {}  SIGBUS kills {}",
        s.faults.minor,
        s.faults.major,
        s.faults.protection,
        s.faults.segv_kills,
        s.faults.bus_kills
    );
    let _ = writeln!(
        t,
        "  translation     {} of cycles ({} beyond L1 TLB hits; faults {})",
        pct(s.core.translation_share),
        pct(s.core.tlb_miss_share),
        pct(if s.cycles == 0 {
            0.0
        } else {
            s.core.fault_cycles as f64 / s.cycles as f64
        })
    );
    let d = &s.dram;
    let _ = writeln!(
        t,
        "  DRAM            {} reads, {} writes; row hits {}, misses {}, conflicts {}",
        d.reads, d.writes, d.row_hits, d.row_misses, d.row_conflicts
    );
    let _ = writeln!(
        t,
        "  memory          {} data pages, {} page-table pages, {} of {} frames free",
        s.os.data_pages, s.os.page_table_pages, s.os.frames_free, s.os.frames
    );
    let o = &s.os;
    if o.evictions + o.swap_ins + o.swap_outs > 0 {
        let mean = |total: u64, n: u64| total.checked_div(n).unwrap_or(0);
        let _ = writeln!(
            t,
            "  swap            {} evictions, {} swap-outs, {} swap-ins; disk read {} / write {} cycles mean",
            o.evictions,
            o.swap_outs,
            o.swap_ins,
            mean(s.disk.total_read_latency, s.disk.reads),
            mean(s.disk.total_write_latency, s.disk.writes)
        );
    }
    if s.dma.transfers > 0 {
        let _ = writeln!(
            t,
            "  DMA             {} transfers ({} to memory, {} to device), {} lines, mean {} cycles",
            s.dma.transfers,
            s.dma.to_memory,
            s.dma.to_device,
            s.dma.lines,
            s.dma.total_latency / s.dma.transfers
        );
    }
    for d in &s.devices {
        let _ = writeln!(
            t,
            "  device          {} of {} DMA bursts delivered into pid {}'s ring",
            d.delivered, d.sent, d.pid
        );
    }
    if o.context_switches > 0 {
        let _ = writeln!(
            t,
            "  scheduling      {} context switches, {} TLB flushes, {} ASID recycles; {} TLB misses caused by switches",
            o.context_switches, o.tlb_flushes, o.asid_recycles, o.switch_tlb_misses
        );
    }
    if o.thrashing_windows > 0 {
        let windows = s.cycles.div_ceil(out.thrashing_window.max(1));
        let _ = writeln!(
            t,
            "  THRASHING       {} of {} windows spent more than {} of their cycles on paging faults",
            o.thrashing_windows,
            windows,
            pct(out.thrashing_threshold)
        );
    }
    let i = &s.integrity;
    if i.stores + i.loads_checked > 0 {
        let _ = writeln!(
            t,
            "  data integrity  {} stores, {} loads checked, {} errors{}",
            i.stores,
            i.loads_checked,
            i.errors,
            i.first_error
                .as_ref()
                .map_or(String::new(), |e| format!(" (first: {e})"))
        );
    }
    if s.processes.len() > 1 {
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "  {:>4} {:<12} {:>10} {:>8} {:>8} {:>8} {:>11}  exit",
            "pid", "name", "accesses", "minor", "major", "walks", "xlat share"
        );
        for p in &s.processes {
            let _ = writeln!(
                t,
                "  {:>4} {:<12} {:>10} {:>8} {:>8} {:>8} {:>11}  {}",
                p.pid,
                p.name,
                p.accesses,
                p.minor_faults,
                p.major_faults,
                p.walks,
                pct(p.translation_share),
                p.exit
            );
        }
    }
    for (cycle, k) in &out.kills {
        let _ = writeln!(t, "  KILLED at cycle {cycle}: {k}");
    }
    t
}
