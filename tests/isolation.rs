//! Isolation, proven (issue: multiprogramming): random scenarios of several processes that use
//! the same virtual addresses, switched on short time slices with and without PCID (and with
//! few hardware ASIDs, so tags are recycled), under memory pressure (eviction and swap), with
//! some processes killed, never let a process read a value another process wrote, nor reach a
//! frame its own page table does not map there.
//!
//! Every access carries data: a write stores a value unique to (pid, sequence number); a read
//! expects the last value this process wrote at that address, or 0. The run checks every load
//! (`integrity.errors`) and, with `check_invariants`, the kernel's bookkeeping after every
//! kernel action and the frame of every completed access.
//!
//! The same check must catch a broken kernel whose context switches skip the TLB flush without
//! PCID: then a process hits the previous process's translations for the same addresses.

mod common;

use common::{VecWorkload, config};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use std::collections::BTreeMap;
use vmsim_hw::{AccessKind, VirtAddr};
use vmsim_os::{Segment, SegmentKind, SegmentPerms};
use vmsim_sim::system::{ProcessSpec, SimError};
use vmsim_sim::workload::{Record, Workload};
use vmsim_sim::{NoObserver, System};

/// Every process's private segment: the same 16 pages at the same address.
const BASE: u64 = 0x4000_0000;
const PAGES: u64 = 16;

#[derive(Clone, Debug)]
struct Op {
    write: bool,
    page: u64,
    word: u64,
}

#[derive(Clone, Debug)]
struct Case {
    procs: Vec<Vec<Op>>,
    /// A process that, after its accesses, touches an address outside its segment.
    killed: Option<usize>,
    frames: u64,
    pcid: bool,
    asids: u16,
    time_slice: u64,
    eviction: &'static str,
}

fn op() -> impl Strategy<Value = Op> {
    (any::<bool>(), 0..PAGES, 0u64..4).prop_map(|(write, page, word)| Op { write, page, word })
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(prop::collection::vec(op(), 20..80), 2..4),
        prop::option::of(0usize..3),
        prop_oneof![Just(24u64), Just(40), Just(256)],
        any::<bool>(),
        1u16..4,
        prop_oneof![Just(300u64), Just(2_000), Just(20_000)],
        prop_oneof![Just("fifo"), Just("clock"), Just("lru"), Just("random")],
    )
        .prop_map(
            |(procs, killed, frames, pcid, asids, time_slice, eviction)| Case {
                killed: killed.filter(|&k| k < procs.len()),
                procs,
                frames,
                pcid,
                asids,
                time_slice,
                eviction,
            },
        )
}

/// The records of process `pid`: data-carrying accesses with their expectations.
fn records(pid: u32, ops: &[Op], killed: bool) -> Vec<Record> {
    let mut shadow: BTreeMap<u64, u64> = BTreeMap::new();
    let mut out = Vec::new();
    for (seq, o) in ops.iter().enumerate() {
        let va = BASE + o.page * 4096 + o.word * 8;
        let (kind, data) = if o.write {
            let v = (u64::from(pid) << 48) | ((seq as u64 + 1) << 8) | 0x5a;
            shadow.insert(va, v);
            (AccessKind::Write, v)
        } else {
            (AccessKind::Read, shadow.get(&va).copied().unwrap_or(0))
        };
        out.push(Record {
            kind,
            va: VirtAddr(va),
            size: 8,
            instrs: 1,
            data: Some(data),
        });
    }
    if killed {
        // Outside the segment: SIGSEGV.
        out.push(Record {
            kind: AccessKind::Read,
            va: VirtAddr(BASE + PAGES * 4096 + 8),
            size: 8,
            instrs: 1,
            data: None,
        });
    }
    out
}

/// Run a case; `Err` describes the first isolation failure seen.
fn run(c: &Case, broken: bool) -> Result<(), String> {
    let frames = format!("os.frames={}", c.frames);
    let pcid = format!("os.pcid={}", c.pcid);
    let asids = format!("os.asids={}", c.asids);
    let slice = format!("os.time_slice={}", c.time_slice);
    let eviction = format!("os.eviction={}", c.eviction);
    let cfg = config(&[
        &frames,
        &pcid,
        &asids,
        &slice,
        &eviction,
        "os.switch_cycles=100",
        "os.fault_cycles=200",
        "os.major_fault_cycles=200",
        "disk.read_us=0.5",
        "disk.write_us=0.25",
        "output.accesses_csv=false",
        "output.walks_csv=false",
    ]);
    let specs = (0..c.procs.len())
        .map(|i| ProcessSpec {
            name: format!("p{}", i + 1),
            segments: vec![Segment {
                start: VirtAddr(BASE),
                end: VirtAddr(BASE + PAGES * 4096),
                perms: SegmentPerms::parse("rwu").unwrap(),
                kind: SegmentKind::Anonymous,
            }],
            events: Vec::new(),
        })
        .collect();
    let mut sys = System::with_processes(&cfg, specs, Vec::new()).map_err(|e| e.to_string())?;
    sys.check_invariants = true;
    if broken {
        sys.kernel.break_isolation_for_test();
    }
    let mut workloads: Vec<VecWorkload> = c
        .procs
        .iter()
        .enumerate()
        .map(|(i, ops)| VecWorkload::new(records(i as u32 + 1, ops, c.killed == Some(i))))
        .collect();
    let mut refs: Vec<&mut dyn Workload> = workloads
        .iter_mut()
        .map(|w| w as &mut dyn Workload)
        .collect();
    match sys.run_all(&mut refs, &mut NoObserver) {
        Ok(()) => {}
        Err(e @ SimError::Invariant { .. }) => return Err(e.to_string()),
        Err(e) => panic!("the run failed for another reason: {e}"),
    }
    let i = sys.integrity();
    if i.errors > 0 {
        return Err(format!(
            "{} of {} loads found another value; first: {}",
            i.errors,
            i.loads_checked,
            i.first_error.clone().unwrap_or_default()
        ));
    }
    assert!(i.loads_checked + i.stores > 0);
    assert_eq!(sys.kernel.stats().swap_integrity_errors, 0);
    assert_eq!(sys.kernel.stats().segv_kills, u64::from(c.killed.is_some()));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn processes_only_ever_see_their_own_memory(c in case()) {
        if let Err(e) = run(&c, false) {
            prop_assert!(false, "isolation broken: {e}\n{c:?}");
        }
    }
}

/// Two processes at the same addresses: the first writes a page, the second (after a switch)
/// reads the same address and must find 0, its own untouched memory.
fn two_processes_same_address() -> Case {
    Case {
        procs: vec![
            vec![
                Op {
                    write: true,
                    page: 3,
                    word: 0,
                };
                40
            ],
            vec![
                Op {
                    write: false,
                    page: 3,
                    word: 0,
                };
                40
            ],
        ],
        killed: None,
        frames: 256,
        pcid: false,
        asids: 1,
        time_slice: 300,
        eviction: "clock",
    }
}

#[test]
fn the_correct_kernel_passes_the_fixed_case() {
    assert_eq!(run(&two_processes_same_address(), false), Ok(()));
}

#[test]
fn a_kernel_that_skips_the_switch_flush_fails_the_same_check() {
    let e = run(&two_processes_same_address(), true).unwrap_err();
    assert!(e.contains("found another value"), "{e}");
    // And the property itself has teeth: over random cases without PCID, the broken kernel
    // is caught.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut caught = 0;
    for _ in 0..12 {
        let mut c = case().new_tree(&mut runner).unwrap().current();
        c.pcid = false;
        if run(&c, true).is_err() {
            caught += 1;
        }
    }
    assert!(caught > 0, "the broken kernel was never caught");
}
