//! The DMA engine: moves pages between a device and physical memory through the DRAM model, and
//! raises a completion interrupt.
//!
//! # Contract
//!
//! - The OS (or a device model) queues a [`DmaDescriptor`] with `submit(now, desc)`: a
//!   direction, a physical frame, the device block it concerns, and a length in bytes (a
//!   multiple of 64, at most 4096, from the start of the frame). A full queue refuses it
//!   ([`DmaSubmitError::Full`], the descriptor handed back); so does a malformed one
//!   ([`DmaSubmitError::Invalid`]). A descriptor holds its slot from `submit` until its
//!   completion is taken with `pop_completion`, so `queue_depth` bounds waiting + active +
//!   unreaped descriptors.
//! - Descriptors are served **one at a time, in FIFO order** (one channel). The engine is
//!   device-agnostic: for `DeviceToMemory` the descriptor carries the data the device delivers
//!   (a disk read's content, a network burst); for `MemoryToDevice` the completion carries the
//!   data read from memory, which the owner hands to the device (a disk write).
//! - **Timing.** A descriptor becomes active when it is submitted to an idle engine, or in the
//!   tick in which the one before it completes. Setup (descriptor fetch, programming) takes
//!   `setup` cycles (`dma.setup_ns` rounded up to core cycles; at least one): the engine issues
//!   its first line requests in `tick(active + setup)`. A transfer of `len` bytes is
//!   `n = len / 64` line requests, to consecutive lines of the frame: DRAM **writes** for
//!   `DeviceToMemory`, **reads** for `MemoryToDevice`. At most `max_outstanding` are in flight
//!   (sent and not answered), which is the engine's back-pressure; a request refused by the bus
//!   is retried the next cycle. A request sent in `tick(t)` is visible to memory from `t + 1`,
//!   like any port message. The descriptor completes in the tick that receives its last line's
//!   response, at cycle `T`: the data moves then, and the completion interrupt is visible to
//!   the OS from `done = T + 1`.
//!
//!   With a fixed DRAM latency `L`, a memory side that enqueues a request in the cycle it
//!   becomes visible and answers at its done cycle (what `MemorySystem` does), and a queue that
//!   never refuses, a descriptor submitted to an idle engine at `t0` completes at
//!   `done = t0 + setup + ceil(n / max_outstanding) * (L + 1) + 1`: each round of
//!   `max_outstanding` lines costs one cycle to cross to memory plus `L`.
//! - **Data** moves functionally, at completion: a whole page (`len == 4096`) as a
//!   [`FrameContent`], bit for bit (`PhysMem::frame_content` / `set_frame_content`). A partial
//!   `DeviceToMemory` transfer writes the first `len / 8` words of the carried content into the
//!   frame, each recorded in the frame's signature as a store; a partial `MemoryToDevice`
//!   transfer hands out those words (the rest zero) with signature 0, since a signature
//!   describes a whole frame.
//! - `tick(now, phys, bus)` (non-decreasing) takes line responses, completes a descriptor, and
//!   issues line requests; it reports whether it did any of these. `next_event(bus)` is the
//!   earliest later cycle at which `tick` can act: a response becoming visible, the end of
//!   setup, or the next cycle while a request waits for room on the bus. It does not include
//!   completions waiting to be taken: see `next_completion()`. Ticking every cycle or only at
//!   these events gives identical results.
//!
//! # The memory interface
//!
//! The engine talks to memory through the [`DmaBus`] trait: it sends [`LineRequest`]s stamped
//! with the cycle they become visible, and receives [`LineResponse`]s visible at the cycle
//! their data is done. [`DmaPorts`], a pair of bounded ports, implements it; a test or a run
//! loop moves its requests into DRAM and its responses back. DMA traffic goes straight to DRAM
//! (it bypasses the data caches, which hold tags only, so no data can be stale) and occupies
//! banks and the data bus like any other request.
//!
//! Wiring. [`MemPorts`](crate::memsys::MemPorts) implements `DmaBus`: a line request becomes a
//! `MemReq { from: Requester::Dma, needs_response: true, .. }` on the memory system's shared
//! request port, and its answer comes back on `MemPorts::dma_resp`. Build the ports with
//! `MemPorts::with_dma(capacity, max_outstanding)` (room for the engine's requests on the
//! request port and for all its answers on `dma_resp`), then each step of the run loop calls
//! `engine.tick(now, &mut phys, &mut mem_ports)` beside `memsys.tick(now, &mut mem_ports)` (in
//! either order: messages cross with at least one cycle of latency), and takes the engine's
//! `next_event(&mem_ports)` and `next_completion()` into the loop's next event, with the memory
//! system's. In `MemorySystem` a `Dma` request skips the caches like a walk with
//! `through_caches = false`, always gets an answer (writes included), and is answered at its
//! DRAM done cycle; see the memsys module doc for what is simplified (no snoops, no
//! invalidations). `hw/tests/dma_memsys.rs` is a complete loop.
//!
//! [`DmaPorts`] stays for tests that drive DRAM directly (the rig below).

use crate::clock::{check_freq, ns_to_cycles};
use crate::error::ConfigError;
use crate::memory::{FrameContent, PhysMem};
use crate::port::Port;
use crate::pte::ENTRIES_PER_TABLE;
use crate::types::{Cycle, LINE_SIZE, PAGE_SIZE, PhysAddr, Ppn};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use thiserror::Error;

/// Deepest descriptor queue, and most line requests in flight.
const MAX_DEPTH: usize = 4096;
/// Longest setup a configuration may ask for, ns (1 s).
const MAX_SETUP_NS: f64 = 1.0e9;

/// DMA engine configuration (`[dma]` in a scenario).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DmaConfig {
    /// Descriptors the engine holds: waiting, active, and completed but not yet taken.
    pub queue_depth: usize,
    /// Line requests in flight at once.
    pub max_outstanding: usize,
    /// Setup latency of each descriptor (fetch and programming), ns; rounded up to core cycles.
    pub setup_ns: f64,
}

impl Default for DmaConfig {
    /// 32 descriptors; 16 lines in flight (a quarter of a page: DRAM keeps several banks and
    /// the bus busy without one transfer filling the 32-entry controller queue); setup 500 ns,
    /// of the order of one PCIe round trip for a device fetching its descriptor from host
    /// memory (Neugebauer et al., "Understanding PCIe performance for end host networking",
    /// SIGCOMM 2018) \[M\].
    fn default() -> DmaConfig {
        DmaConfig {
            queue_depth: 32,
            max_outstanding: 16,
            setup_ns: 500.0,
        }
    }
}

impl DmaConfig {
    /// Checks every field; an error names the full key (for example `dma.max_outstanding`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (field, v) in [
            ("queue_depth", self.queue_depth),
            ("max_outstanding", self.max_outstanding),
        ] {
            if v == 0 || v > MAX_DEPTH {
                return Err(ConfigError::new(
                    format!("dma.{field}"),
                    format!("must be between 1 and {MAX_DEPTH}, got {v}"),
                ));
            }
        }
        if !(self.setup_ns.is_finite() && self.setup_ns > 0.0 && self.setup_ns <= MAX_SETUP_NS) {
            return Err(ConfigError::new(
                "dma.setup_ns",
                format!(
                    "must be a positive number of nanoseconds up to {MAX_SETUP_NS}, got {}",
                    self.setup_ns
                ),
            ));
        }
        Ok(())
    }
}

/// Which way a descriptor moves data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum DmaDirection {
    /// The device writes into memory (swap-in, a network card's receive): DRAM writes.
    DeviceToMemory,
    /// The device reads from memory (swap-out): DRAM reads.
    MemoryToDevice,
}

/// One transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DmaDescriptor {
    /// Chosen by the sender; comes back in the completion.
    pub id: u64,
    pub direction: DmaDirection,
    pub frame: Ppn,
    /// The device's block (for a disk, the swap slot); carried to the completion.
    pub device_block: u64,
    /// Bytes from the start of the frame: a multiple of 64, at most 4096.
    pub len: u64,
    /// `DeviceToMemory`: what the device delivers. `MemoryToDevice`: `None`.
    pub data: Option<FrameContent>,
}

impl DmaDescriptor {
    /// A whole page from memory to the device.
    pub fn page_to_device(id: u64, frame: Ppn, device_block: u64) -> DmaDescriptor {
        DmaDescriptor {
            id,
            direction: DmaDirection::MemoryToDevice,
            frame,
            device_block,
            len: PAGE_SIZE,
            data: None,
        }
    }

    /// A whole page from the device into memory.
    pub fn page_to_memory(
        id: u64,
        frame: Ppn,
        device_block: u64,
        data: FrameContent,
    ) -> DmaDescriptor {
        DmaDescriptor {
            id,
            direction: DmaDirection::DeviceToMemory,
            frame,
            device_block,
            len: PAGE_SIZE,
            data: Some(data),
        }
    }

    fn check(&self) -> Result<(), &'static str> {
        if self.len == 0 || self.len > PAGE_SIZE || !self.len.is_multiple_of(LINE_SIZE) {
            return Err("length must be a multiple of 64 bytes between 64 and 4096");
        }
        match (self.direction, &self.data) {
            (DmaDirection::DeviceToMemory, None) => {
                Err("a device-to-memory transfer must carry the device's data")
            }
            (DmaDirection::MemoryToDevice, Some(_)) => {
                Err("a memory-to-device transfer carries no data")
            }
            _ => Ok(()),
        }
    }
}

/// Why `submit` refused a descriptor (handed back in either case).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum DmaSubmitError {
    #[error("DMA descriptor queue full")]
    Full(DmaDescriptor),
    #[error("bad DMA descriptor {id}: {reason}", id = .desc.id)]
    Invalid {
        desc: DmaDescriptor,
        reason: &'static str,
    },
}

impl DmaSubmitError {
    pub fn into_descriptor(self) -> DmaDescriptor {
        match self {
            DmaSubmitError::Full(d) | DmaSubmitError::Invalid { desc: d, .. } => d,
        }
    }
}

/// A finished transfer: the completion interrupt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DmaCompletion {
    pub id: u64,
    pub direction: DmaDirection,
    pub frame: Ppn,
    pub device_block: u64,
    pub len: u64,
    /// `MemoryToDevice`: the data read from memory, for the device. `DeviceToMemory`: `None`.
    pub data: Option<FrameContent>,
    /// The cycle the descriptor was submitted.
    pub accepted: Cycle,
    /// The cycle the interrupt becomes visible: one after the last line's response.
    pub done: Cycle,
}

/// One 64-byte line request of a transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineRequest {
    pub id: u64,
    pub addr: PhysAddr,
    pub write: bool,
}

/// The answer to a line request: its data is done (read returned, or write completed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineResponse {
    pub id: u64,
}

/// The engine's side of the memory interconnect.
///
/// Contract: `send` offers a request visible to memory from `ready` (always after the current
/// cycle); a refusal hands it back and the engine retries the next cycle. Every accepted request
/// is answered exactly once, with a response visible from the cycle its data is done;
/// `next_response` is the cycle the next one becomes visible.
pub trait DmaBus {
    fn send(&mut self, ready: Cycle, line: LineRequest) -> Result<(), LineRequest>;
    fn recv(&mut self, now: Cycle) -> Option<LineResponse>;
    fn next_response(&self) -> Option<Cycle>;
}

/// The engine's ports to memory: requests out, responses back. The response port must hold
/// `max_outstanding` responses (the memory side cannot refuse an answer).
#[derive(Debug)]
pub struct DmaPorts {
    pub req: Port<LineRequest>,
    pub resp: Port<LineResponse>,
}

impl DmaPorts {
    /// Both ports with room for `capacity` messages.
    pub fn new(capacity: usize) -> DmaPorts {
        DmaPorts {
            req: Port::new(capacity),
            resp: Port::new(capacity),
        }
    }
}

impl DmaBus for DmaPorts {
    #[inline]
    fn send(&mut self, ready: Cycle, line: LineRequest) -> Result<(), LineRequest> {
        self.req.try_send(ready, line)
    }
    #[inline]
    fn recv(&mut self, now: Cycle) -> Option<LineResponse> {
        self.resp.recv(now)
    }
    #[inline]
    fn next_response(&self) -> Option<Cycle> {
        self.resp.next_ready()
    }
}

/// DMA counters (`dma.*` in stats.json). Subtract two snapshots for a warm-up delta.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DmaStats {
    /// Descriptors completed.
    pub transfers: u64,
    /// Bytes moved by completed descriptors.
    pub bytes: u64,
    /// Line requests answered.
    pub lines: u64,
    /// Line requests sent as DRAM reads (memory to device).
    pub line_reads: u64,
    /// Line requests sent as DRAM writes (device to memory).
    pub line_writes: u64,
    /// Completed descriptors by direction.
    pub to_memory: u64,
    pub to_device: u64,
    /// Sum of `done - accepted` over completed descriptors, core cycles.
    pub total_latency: u64,
    /// Descriptors refused by a full queue.
    pub refused: u64,
    /// Line requests refused by the bus (each retry counts).
    pub bus_refusals: u64,
}

impl std::ops::Sub for &DmaStats {
    type Output = DmaStats;
    /// The counts between two snapshots (saturating).
    fn sub(self, o: &DmaStats) -> DmaStats {
        DmaStats {
            transfers: self.transfers.saturating_sub(o.transfers),
            bytes: self.bytes.saturating_sub(o.bytes),
            lines: self.lines.saturating_sub(o.lines),
            line_reads: self.line_reads.saturating_sub(o.line_reads),
            line_writes: self.line_writes.saturating_sub(o.line_writes),
            to_memory: self.to_memory.saturating_sub(o.to_memory),
            to_device: self.to_device.saturating_sub(o.to_device),
            total_latency: self.total_latency.saturating_sub(o.total_latency),
            refused: self.refused.saturating_sub(o.refused),
            bus_refusals: self.bus_refusals.saturating_sub(o.bus_refusals),
        }
    }
}

/// The engine's FSM state; waveforms show it by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmaState {
    Idle,
    /// Fetching and programming the active descriptor.
    Setup,
    /// Issuing line requests or waiting for their responses.
    Transfer,
    /// A line request was refused by the bus; retrying.
    Blocked,
}

/// Names of the DMA states, indexed by [`DmaState::index`].
pub const DMA_STATE_NAMES: &[&str] = &["Idle", "Setup", "Transfer", "Blocked"];

impl DmaState {
    /// Index into [`DMA_STATE_NAMES`].
    pub fn index(self) -> u64 {
        match self {
            DmaState::Idle => 0,
            DmaState::Setup => 1,
            DmaState::Transfer => 2,
            DmaState::Blocked => 3,
        }
    }
}

/// The descriptor being served.
#[derive(Debug)]
struct Active {
    desc: DmaDescriptor,
    accepted: u64,
    /// The first cycle line requests may be issued.
    setup_until: u64,
    lines: u64,
    issued: u64,
    answered: u64,
    /// Line ids are `first_id..first_id + lines`.
    first_id: u64,
}

/// The DMA engine. See the module documentation for the contract.
#[derive(Debug)]
pub struct DmaEngine {
    setup: u64,
    depth: usize,
    max_outstanding: u64,
    waiting: VecDeque<(DmaDescriptor, u64)>,
    active: Option<Active>,
    completed: VecDeque<DmaCompletion>,
    next_line_id: u64,
    /// A line request was refused by the bus in the last tick.
    blocked: bool,
    last_tick: Option<u64>,
    stats: DmaStats,
}

impl DmaEngine {
    /// Build the engine for a core clocked at `core_freq_ghz`; validates `cfg` (keys `dma.*`)
    /// and the frequency (key `core.freq_ghz`).
    pub fn new(cfg: &DmaConfig, core_freq_ghz: f64) -> Result<DmaEngine, ConfigError> {
        cfg.validate()?;
        check_freq(core_freq_ghz)?;
        Ok(DmaEngine {
            setup: ns_to_cycles(cfg.setup_ns, core_freq_ghz).max(1),
            depth: cfg.queue_depth,
            max_outstanding: cfg.max_outstanding as u64,
            waiting: VecDeque::new(),
            active: None,
            completed: VecDeque::new(),
            next_line_id: 0,
            blocked: false,
            last_tick: None,
            stats: DmaStats::default(),
        })
    }

    /// Whether `submit` would accept a well-formed descriptor now.
    #[inline]
    pub fn can_accept(&self) -> bool {
        self.outstanding() < self.depth
    }

    /// Queue a descriptor submitted at `now` (not before the last tick).
    pub fn submit(&mut self, now: Cycle, desc: DmaDescriptor) -> Result<(), DmaSubmitError> {
        debug_assert!(
            self.last_tick.is_none_or(|l| now.0 >= l),
            "DMA descriptor {} submitted at {now}, before the last tick",
            desc.id
        );
        if let Err(reason) = desc.check() {
            return Err(DmaSubmitError::Invalid { desc, reason });
        }
        if !self.can_accept() {
            self.stats.refused += 1;
            return Err(DmaSubmitError::Full(desc));
        }
        if self.active.is_none() {
            self.activate(desc, now.0, now.0);
        } else {
            self.waiting.push_back((desc, now.0));
        }
        Ok(())
    }

    fn activate(&mut self, desc: DmaDescriptor, accepted: u64, now: u64) {
        let lines = desc.len / LINE_SIZE;
        self.active = Some(Active {
            desc,
            accepted,
            setup_until: now + self.setup,
            lines,
            issued: 0,
            answered: 0,
            first_id: self.next_line_id,
        });
        self.next_line_id += lines;
    }

    /// One cycle: take line responses, complete the active descriptor when its last line is
    /// answered (moving its data in `phys`), and issue line requests. True if it did anything.
    pub fn tick(&mut self, now: Cycle, phys: &mut PhysMem, bus: &mut impl DmaBus) -> bool {
        let now = now.0;
        debug_assert!(
            self.last_tick.is_none_or(|l| now >= l),
            "DMA engine ticked backwards"
        );
        self.last_tick = Some(now);
        let mut progress = false;
        while let Some(r) = bus.recv(Cycle(now)) {
            progress = true;
            debug_assert!(
                self.active.is_some(),
                "DMA line response {} with no transfer active",
                r.id
            );
            let Some(a) = self.active.as_mut() else {
                continue;
            };
            debug_assert!(
                (a.first_id..a.first_id + a.issued).contains(&r.id),
                "DMA line response {} not of the active transfer",
                r.id
            );
            a.answered += 1;
            self.stats.lines += 1;
        }
        if self.active.as_ref().is_some_and(|a| a.answered == a.lines) {
            self.finish(now, phys);
            if let Some((desc, accepted)) = self.waiting.pop_front() {
                self.activate(desc, accepted, now);
            }
        }
        self.blocked = false;
        if let Some(a) = self.active.as_mut()
            && now >= a.setup_until
        {
            let write = a.desc.direction == DmaDirection::DeviceToMemory;
            while a.issued < a.lines && a.issued - a.answered < self.max_outstanding {
                let line = LineRequest {
                    id: a.first_id + a.issued,
                    addr: PhysAddr(a.desc.frame.base().0 + a.issued * LINE_SIZE),
                    write,
                };
                if bus.send(Cycle(now + 1), line).is_err() {
                    self.blocked = true;
                    self.stats.bus_refusals += 1;
                    break;
                }
                progress = true;
                a.issued += 1;
                if write {
                    self.stats.line_writes += 1;
                } else {
                    self.stats.line_reads += 1;
                }
            }
        }
        progress
    }

    /// Move the active descriptor's data and raise its completion, visible at `now + 1`.
    fn finish(&mut self, now: u64, phys: &mut PhysMem) {
        let a = self.active.take().expect("finish with a transfer active");
        let d = a.desc;
        assert!(
            d.frame.0 < phys.frames(),
            "DMA descriptor {} names frame {} outside physical memory ({} frames)",
            d.id,
            d.frame.0,
            phys.frames()
        );
        let words = (d.len / 8) as usize;
        let data = match d.direction {
            DmaDirection::MemoryToDevice if d.len == PAGE_SIZE => Some(phys.frame_content(d.frame)),
            DmaDirection::MemoryToDevice => {
                let full = phys.frame_content(d.frame);
                let words = full.words.map(|w| {
                    let mut part = Box::new([0u64; ENTRIES_PER_TABLE]);
                    part[..words].copy_from_slice(&w[..words]);
                    part
                });
                Some(FrameContent {
                    words,
                    signature: 0,
                })
            }
            DmaDirection::DeviceToMemory => {
                let content = d.data.expect("checked at submit");
                if d.len == PAGE_SIZE {
                    phys.set_frame_content(d.frame, content);
                } else {
                    for i in 0..words {
                        let v = content.words.as_ref().map_or(0, |w| w[i]);
                        let pa = d.frame.with_offset(i as u64 * 8);
                        phys.write_u64(pa, v);
                        phys.record_store(pa, v);
                    }
                }
                None
            }
        };
        let done = now + 1;
        let st = &mut self.stats;
        st.transfers += 1;
        st.bytes += d.len;
        st.total_latency += done - a.accepted;
        match d.direction {
            DmaDirection::DeviceToMemory => st.to_memory += 1,
            DmaDirection::MemoryToDevice => st.to_device += 1,
        }
        self.completed.push_back(DmaCompletion {
            id: d.id,
            direction: d.direction,
            frame: d.frame,
            device_block: d.device_block,
            len: d.len,
            data,
            accepted: Cycle(a.accepted),
            done: Cycle(done),
        });
    }

    /// The earliest cycle after the last tick at which `tick` can act; `None` when it has
    /// nothing to do until something is submitted.
    pub fn next_event(&self, bus: &impl DmaBus) -> Option<Cycle> {
        let mut next = bus.next_response().map(|c| c.0);
        if let Some(a) = &self.active
            && a.issued < a.lines
            && a.issued - a.answered < self.max_outstanding
        {
            let after = self.last_tick.map_or(0, |l| l + 1);
            let t = a.setup_until.max(after);
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        next.map(Cycle)
    }

    /// Take the oldest completion visible at `now` (FIFO order).
    pub fn pop_completion(&mut self, now: Cycle) -> Option<DmaCompletion> {
        match self.completed.front() {
            Some(c) if c.done <= now => self.completed.pop_front(),
            _ => None,
        }
    }

    /// The cycle the oldest untaken completion becomes visible (the interrupt line is raised
    /// from then until it is taken).
    pub fn next_completion(&self) -> Option<Cycle> {
        self.completed.front().map(|c| c.done)
    }

    /// What the engine is doing as of the last tick.
    pub fn state(&self) -> DmaState {
        match &self.active {
            None => DmaState::Idle,
            Some(a) if self.last_tick.is_none_or(|t| t < a.setup_until) => DmaState::Setup,
            Some(_) if self.blocked => DmaState::Blocked,
            Some(_) => DmaState::Transfer,
        }
    }

    /// Line requests sent and not yet answered.
    pub fn outstanding_lines(&self) -> u64 {
        self.active.as_ref().map_or(0, |a| a.issued - a.answered)
    }

    /// Descriptors waiting or active.
    pub fn queued(&self) -> usize {
        self.waiting.len() + usize::from(self.active.is_some())
    }

    /// Descriptors holding a queue slot: waiting, active, or completed but not yet taken.
    pub fn outstanding(&self) -> usize {
        self.queued() + self.completed.len()
    }

    /// The setup latency in core cycles.
    pub fn setup_cycles(&self) -> u64 {
        self.setup
    }

    pub fn stats(&self) -> &DmaStats {
        &self.stats
    }
}

impl crate::probe::Probed for DmaEngine {
    fn declare(&self, out: &mut Vec<(String, crate::probe::SignalDecl)>) {
        use crate::probe::SignalDecl;
        out.push(("dma".into(), SignalDecl::state("state", DMA_STATE_NAMES)));
        out.push(("dma".into(), SignalDecl::bits("outstanding", 32)));
        out.push(("dma".into(), SignalDecl::bits("queue", 32)));
        out.push(("dma".into(), SignalDecl::bits("transfers", 64)));
    }

    fn sample(&self, out: &mut Vec<u64>) {
        out.extend([
            self.state().index(),
            self.outstanding_lines(),
            self.queued() as u64,
            self.stats.transfers,
        ]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::{Disk, DiskConfig, DiskOp, DiskRequest};
    use crate::dram::{Dram, DramConfig, DramRequest};
    use crate::probe::Probed;

    const GHZ: f64 = 4.0;
    /// Line ids at or above this are requests of another agent, not of the engine.
    const FOREIGN: u64 = 1 << 62;

    /// 25 ns of setup: 100 cycles at 4 GHz.
    fn dma_cfg(max_outstanding: usize) -> DmaConfig {
        DmaConfig {
            max_outstanding,
            setup_ns: 25.0,
            ..DmaConfig::default()
        }
    }

    /// A frame's content with real words and a signature.
    fn fill(phys: &mut PhysMem, frame: Ppn, tag: u64) -> FrameContent {
        for i in 0..512 {
            let pa = frame.with_offset(i * 8);
            let v = tag.wrapping_mul(0x9e37_79b9) ^ (i << 20) ^ i;
            phys.write_u64(pa, v);
            phys.record_store(pa, v);
        }
        phys.frame_content(frame)
    }

    /// The engine between scripted submissions and a memory side that, like `MemorySystem`
    /// with caches bypassed, enqueues each request in DRAM in the cycle it becomes visible and
    /// answers at its done cycle.
    struct Rig {
        dma: DmaEngine,
        dram: Dram,
        ports: DmaPorts,
        phys: PhysMem,
        /// Requests the DRAM queue refused, retried in order.
        blocked: VecDeque<DramRequest>,
        script: VecDeque<(u64, DmaDescriptor)>,
        /// Another agent's DRAM reads: (cycle, address).
        foreign: VecDeque<(u64, PhysAddr)>,
        foreign_sent: u64,
        foreign_done: Vec<(u64, Cycle, Cycle)>,
        out: Vec<DmaCompletion>,
        most_outstanding: u64,
        /// The last cycle stepped.
        last: Option<u64>,
    }

    impl Rig {
        fn new(dma: &DmaConfig, dram: &DramConfig, port_capacity: usize) -> Rig {
            Rig {
                dma: DmaEngine::new(dma, GHZ).expect("valid"),
                dram: Dram::new(dram, GHZ).expect("valid"),
                ports: DmaPorts {
                    req: Port::new(port_capacity),
                    resp: Port::new(dma.max_outstanding),
                },
                phys: PhysMem::new(64),
                blocked: VecDeque::new(),
                script: VecDeque::new(),
                foreign: VecDeque::new(),
                foreign_sent: 0,
                foreign_done: Vec::new(),
                out: Vec::new(),
                most_outstanding: 0,
                last: None,
            }
        }

        fn at(&mut self, cycle: u64, desc: DmaDescriptor) {
            self.script.push_back((cycle, desc));
        }

        fn step(&mut self, now: u64) {
            assert!(self.last.is_none_or(|l| now > l), "stepped backwards");
            self.last = Some(now);
            while self.script.front().is_some_and(|(t, _)| *t == now) {
                let (_, d) = self.script.pop_front().unwrap();
                self.dma.submit(Cycle(now), d).expect("room");
            }
            self.dma.tick(Cycle(now), &mut self.phys, &mut self.ports);
            self.most_outstanding = self.most_outstanding.max(self.dma.outstanding_lines());
            // The memory side.
            while let Some(r) = self.blocked.front() {
                if self.dram.enqueue(*r, Cycle(now)).is_err() {
                    break;
                }
                self.blocked.pop_front();
            }
            while self.foreign.front().is_some_and(|(t, _)| *t == now) {
                let (_, addr) = self.foreign.pop_front().unwrap();
                let id = FOREIGN + self.foreign_sent;
                self.foreign_sent += 1;
                let r = DramRequest {
                    id,
                    addr,
                    write: false,
                };
                self.dram
                    .enqueue(r, Cycle(now))
                    .expect("room for the foreign read");
            }
            while let Some(l) = self.ports.req.recv(Cycle(now)) {
                let r = DramRequest {
                    id: l.id,
                    addr: l.addr,
                    write: l.write,
                };
                if !self.blocked.is_empty() || self.dram.enqueue(r, Cycle(now)).is_err() {
                    self.blocked.push_back(r);
                }
            }
            self.dram.tick(Cycle(now));
            while let Some(c) = self.dram.pop_completion(Cycle(u64::MAX)) {
                if c.id >= FOREIGN {
                    self.foreign_done.push((c.id, c.arrival, c.done));
                    continue;
                }
                let ready = c.done.max(Cycle(now + 1));
                let resp = LineResponse { id: c.id };
                assert!(self.ports.resp.try_send(ready, resp).is_ok());
            }
            while let Some(c) = self.dma.pop_completion(Cycle(now)) {
                self.out.push(c);
            }
        }

        fn next_event(&self) -> Option<u64> {
            let next = [
                self.dma.next_event(&self.ports).map(|c| c.0),
                self.dma.next_completion().map(|c| c.0),
                self.dram.next_event().map(|c| c.0),
                self.ports.req.next_ready().map(|c| c.0),
                self.script.front().map(|(t, _)| *t),
                self.foreign.front().map(|(t, _)| *t),
                self.last
                    .filter(|_| !self.blocked.is_empty())
                    .map(|l| l + 1),
            ]
            .into_iter()
            .flatten()
            .min();
            if let (Some(t), Some(l)) = (next, self.last) {
                assert!(t > l, "event at {t}, not after the last step {l}");
            }
            next
        }

        /// Step at every event until nothing is left to do.
        fn run(&mut self) {
            while let Some(t) = self.next_event() {
                self.step(t);
            }
        }

        /// Step every cycle from the next one up to `until`.
        fn run_every_cycle(&mut self, until: u64) {
            let from = self.last.map_or(0, |l| l + 1);
            for t in from..=until {
                self.step(t);
            }
        }
    }

    /// One page from memory to the device through the rig; the completion.
    fn one_page(dma: &DmaConfig, dram: &DramConfig, t0: u64) -> (DmaCompletion, Rig) {
        let mut rig = Rig::new(dma, dram, 64);
        fill(&mut rig.phys, Ppn(3), 1);
        rig.at(t0, DmaDescriptor::page_to_device(1, Ppn(3), 9));
        rig.run();
        assert_eq!(rig.out.len(), 1);
        (rig.out[0].clone(), rig)
    }

    #[test]
    fn page_round_trip_through_the_disk_is_bit_identical() {
        let mut rig = Rig::new(&DmaConfig::default(), &DramConfig::default(), 16);
        let original = fill(&mut rig.phys, Ppn(3), 7);
        assert_ne!(original.signature, 0);
        // Swap out: memory -> device.
        rig.at(0, DmaDescriptor::page_to_device(1, Ppn(3), 42));
        rig.run();
        let out = rig.out.pop().expect("completed");
        assert_eq!(out.device_block, 42);
        let data = out.data.expect("memory-to-device carries the data");
        assert_eq!(data, original);
        // The disk stores it, and reads it back.
        let mut disk = Disk::new(&DiskConfig::default(), GHZ, 1).unwrap();
        let write = DiskRequest {
            id: 1,
            block: 42,
            op: DiskOp::Write(data),
        };
        let read = DiskRequest {
            id: 2,
            block: 42,
            op: DiskOp::Read,
        };
        let now = rig.last.unwrap();
        disk.submit(Cycle(now), write).unwrap();
        disk.submit(Cycle(now), read).unwrap();
        let mut back = None;
        while let Some(t) = disk.next_event() {
            disk.tick(t);
            while let Some(c) = disk.pop_completion(t) {
                back = c.result.expect("no error");
            }
        }
        let back = back.expect("read returns the content");
        // Swap in to another frame: device -> memory.
        rig.phys.zero_frame(Ppn(3));
        let t = rig.last.unwrap() + 1;
        rig.at(t, DmaDescriptor::page_to_memory(2, Ppn(5), 42, back));
        rig.run();
        assert_eq!(rig.out.pop().map(|c| c.id), Some(2));
        assert_eq!(rig.phys.frame_content(Ppn(5)), original);
        assert_eq!(rig.dram.stats().reads, 64);
        assert_eq!(rig.dram.stats().writes, 64);
        let s = rig.dma.stats();
        assert_eq!((s.transfers, s.bytes, s.lines), (2, 8192, 128));
        assert_eq!((s.to_device, s.to_memory), (1, 1));
    }

    #[test]
    fn page_transfer_takes_setup_plus_rounds_of_fixed_dram_latency() {
        // done = t0 + setup + ceil(64 / M) x (L + 1) + 1, with setup 100 and L = 100.
        for (m, expect) in [
            (16, 100 + 4 * 101 + 1),
            (3, 100 + 22 * 101 + 1),
            (64, 100 + 101 + 1),
        ] {
            let dram = DramConfig {
                queue_depth: 64,
                ..DramConfig::fixed(100)
            };
            let (c, rig) = one_page(&dma_cfg(m), &dram, 10);
            assert_eq!(c.accepted, Cycle(10));
            assert_eq!(c.done.0 - 10, expect, "max_outstanding {m}");
            assert_eq!(rig.dram.stats().reads, 64);
            assert_eq!(rig.most_outstanding, m as u64);
        }
    }

    #[test]
    fn completion_is_not_visible_before_its_done_cycle() {
        let (c, _) = one_page(&dma_cfg(16), &DramConfig::fixed(100), 0);
        let mut rig = Rig::new(&dma_cfg(16), &DramConfig::fixed(100), 64);
        rig.at(0, DmaDescriptor::page_to_device(1, Ppn(3), 9));
        for t in 0..c.done.0 {
            rig.step(t);
        }
        assert!(rig.out.is_empty());
        assert_eq!(rig.dma.next_completion(), Some(c.done));
        rig.step(c.done.0);
        assert_eq!(rig.out.len(), 1);
    }

    #[test]
    fn one_outstanding_line_serializes_the_transfer() {
        let (c, rig) = one_page(&dma_cfg(1), &DramConfig::fixed(100), 0);
        assert_eq!(c.done.0, 100 + 64 * 101 + 1);
        assert_eq!(rig.most_outstanding, 1);
    }

    #[test]
    fn device_to_memory_transfer_writes_64_lines() {
        let mut rig = Rig::new(&dma_cfg(16), &DramConfig::fixed(100), 64);
        let mut src = PhysMem::new(1);
        let content = fill(&mut src, Ppn(0), 5);
        rig.at(
            0,
            DmaDescriptor::page_to_memory(4, Ppn(8), 3, content.clone()),
        );
        rig.run();
        assert_eq!(rig.out[0].done.0, 100 + 4 * 101 + 1);
        assert_eq!(rig.out[0].data, None);
        assert_eq!(rig.phys.frame_content(Ppn(8)), content);
        assert_eq!((rig.dram.stats().reads, rig.dram.stats().writes), (0, 64));
        assert_eq!(rig.dma.stats().line_writes, 64);
    }

    #[test]
    fn page_transfer_occupies_one_dram_row_and_the_bus() {
        // DDR4-3200 at 4 GHz: a page is one row of one bank (page-interleaved mapping), so the
        // first line opens the row (tRCD + CL + burst = 120 cycles after it reaches memory at
        // setup + 1) and the other 63 are row hits, one per tCCD_L = 20 cycles in the same bank
        // group, each 10 cycles of data bus; 16 lines in flight keep the queue fed, so the
        // transfer runs at that column rate: done = 100 + 1 + 120 + 63 x 20 + 1 = 1482.
        let (c, rig) = one_page(&dma_cfg(16), &DramConfig::default(), 0);
        let s = rig.dram.stats();
        assert_eq!(
            (s.reads, s.row_misses, s.row_hits, s.activates),
            (64, 1, 63, 1)
        );
        assert_eq!(s.bus_busy_cycles, 64 * 10);
        assert_eq!(rig.dma.setup_cycles(), 100);
        assert_eq!(c.done, Cycle(100 + 1 + 120 + 63 * 20 + 1));
    }

    #[test]
    fn competing_read_waits_behind_dma_traffic() {
        // A read to another row of the same bank arrives at 400, while the transfer streams row
        // hits; FR-FCFS serves the hits first. The last DMA read issues at 1481 - 65 = 1416
        // (its data is done at 1481, see above); then PRE at 1416 + tRTP 30 = 1446, ACT at
        // + tRP 55 = 1501, RD at + tRCD 55 = 1556, data at + CL 55 + burst 10 = 1621: a wait
        // of 1221 cycles instead of an unloaded row conflict's 175.
        let mut rig = Rig::new(&dma_cfg(16), &DramConfig::default(), 64);
        rig.at(0, DmaDescriptor::page_to_device(1, Ppn(3), 9));
        // Frame 3 + 32 sets address bit 17, the lowest row bit: same bank, another row.
        let (ours, other) = (Ppn(3).base(), Ppn(3 + 32).base());
        let (a, b) = (rig.dram.decode(ours), rig.dram.decode(other));
        assert_eq!((a.bank_group, a.bank), (b.bank_group, b.bank));
        assert_ne!(a.row, b.row);
        rig.foreign.push_back((400, other));
        rig.run();
        let (_, arrival, done) = rig.foreign_done[0];
        assert_eq!((arrival, done), (Cycle(400), Cycle(1621)));
        assert_eq!(rig.out[0].done, Cycle(1482));
        assert_eq!(rig.dram.stats().row_conflicts, 1);
    }

    #[test]
    fn descriptors_are_served_in_fifo_order_one_at_a_time() {
        let mut rig = Rig::new(&dma_cfg(16), &DramConfig::fixed(100), 64);
        for id in 0..3 {
            rig.at(0, DmaDescriptor::page_to_device(id, Ppn(id), id));
        }
        rig.run();
        let done: Vec<_> = rig.out.iter().map(|c| (c.id, c.done.0)).collect();
        // Each starts its setup in the tick the previous one's last response arrives.
        let one = 100 + 4 * 101;
        assert_eq!(done, [(0, one + 1), (1, 2 * one + 1), (2, 3 * one + 1)]);
    }

    #[test]
    fn full_queue_refuses_and_hands_the_descriptor_back() {
        let cfg = DmaConfig {
            queue_depth: 2,
            ..dma_cfg(16)
        };
        let mut dma = DmaEngine::new(&cfg, GHZ).unwrap();
        dma.submit(Cycle(0), DmaDescriptor::page_to_device(1, Ppn(1), 1))
            .unwrap();
        dma.submit(Cycle(0), DmaDescriptor::page_to_device(2, Ppn(2), 2))
            .unwrap();
        let third = DmaDescriptor::page_to_device(3, Ppn(3), 3);
        let err = dma.submit(Cycle(0), third.clone()).expect_err("full");
        assert_eq!(err, DmaSubmitError::Full(third.clone()));
        assert_eq!(err.into_descriptor(), third);
        assert_eq!(dma.stats().refused, 1);
    }

    #[test]
    fn malformed_descriptors_are_refused() {
        let mut dma = DmaEngine::new(&DmaConfig::default(), GHZ).unwrap();
        let mut d = DmaDescriptor::page_to_device(1, Ppn(1), 1);
        d.len = 100;
        assert!(matches!(
            dma.submit(Cycle(0), d.clone()),
            Err(DmaSubmitError::Invalid { .. })
        ));
        d.len = 8192;
        assert!(dma.submit(Cycle(0), d.clone()).is_err());
        d.len = 4096;
        d.direction = DmaDirection::DeviceToMemory;
        assert!(dma.submit(Cycle(0), d).is_err());
        assert_eq!(dma.outstanding(), 0);
    }

    #[test]
    fn partial_transfer_moves_only_its_words() {
        let mut rig = Rig::new(&dma_cfg(16), &DramConfig::fixed(50), 64);
        let before = fill(&mut rig.phys, Ppn(2), 3);
        let mut src = PhysMem::new(1);
        let burst = fill(&mut src, Ppn(0), 4);
        let mut to_mem = DmaDescriptor::page_to_memory(1, Ppn(2), 0, burst.clone());
        to_mem.len = 256;
        let mut to_dev = DmaDescriptor::page_to_device(2, Ppn(2), 0);
        to_dev.len = 128;
        rig.at(0, to_mem);
        rig.at(0, to_dev);
        rig.run();
        let words = |c: &FrameContent| c.words.as_ref().unwrap().to_vec();
        let after = words(&rig.phys.frame_content(Ppn(2)));
        assert_eq!(after[..32], words(&burst)[..32]);
        assert_eq!(after[32..], words(&before)[32..]);
        assert_ne!(rig.phys.signature(Ppn(2)), before.signature);
        let sent = rig.out[1].data.clone().unwrap();
        assert_eq!(words(&sent)[..16], words(&burst)[..16]);
        assert!(words(&sent)[16..].iter().all(|&w| w == 0));
        assert_eq!(rig.dram.stats().writes + rig.dram.stats().reads, 4 + 2);
        assert_eq!(rig.dma.stats().bytes, 384);
    }

    #[test]
    fn full_bus_port_is_retried_and_the_engine_shows_blocked() {
        let mut rig = Rig::new(&dma_cfg(16), &DramConfig::fixed(100), 2);
        rig.at(0, DmaDescriptor::page_to_device(1, Ppn(3), 9));
        let mut states = std::collections::BTreeSet::new();
        while let Some(t) = rig.next_event() {
            rig.step(t);
            states.insert(DMA_STATE_NAMES[rig.dma.state().index() as usize]);
        }
        assert_eq!(rig.out.len(), 1);
        assert!(rig.dma.stats().bus_refusals > 0);
        assert!(states.contains("Blocked") && states.contains("Setup"));
        assert_eq!(rig.dram.stats().reads, 64);
    }

    fn skip_vs_tick_rig() -> Rig {
        let cfg = DmaConfig {
            max_outstanding: 4,
            queue_depth: 8,
            setup_ns: 100.0,
        };
        let mut rig = Rig::new(&cfg, &DramConfig::default(), 2);
        let mut src = PhysMem::new(1);
        rig.at(0, DmaDescriptor::page_to_device(0, Ppn(1), 10));
        rig.at(
            0,
            DmaDescriptor::page_to_memory(1, Ppn(40), 11, fill(&mut src, Ppn(0), 1)),
        );
        rig.at(7, DmaDescriptor::page_to_device(2, Ppn(17), 12));
        rig.at(
            5000,
            DmaDescriptor::page_to_memory(3, Ppn(2), 13, fill(&mut src, Ppn(0), 2)),
        );
        rig.at(5001, DmaDescriptor::page_to_device(4, Ppn(40), 14));
        rig.foreign.push_back((450, Ppn(33).base()));
        rig.foreign.push_back((5600, Ppn(34).base()));
        fill(&mut rig.phys, Ppn(1), 9);
        fill(&mut rig.phys, Ppn(17), 8);
        rig
    }

    #[test]
    fn ticking_every_cycle_matches_skipping_to_events() {
        let mut skipped = skip_vs_tick_rig();
        skipped.run();
        let mut ticked = skip_vs_tick_rig();
        ticked.run_every_cycle(skipped.last.unwrap());
        assert_eq!(skipped.out.len(), 5);
        assert_eq!(skipped.out, ticked.out);
        assert_eq!(skipped.foreign_done, ticked.foreign_done);
        assert_eq!(skipped.dma.stats(), ticked.dma.stats());
        assert_eq!(skipped.dram.stats(), ticked.dram.stats());
        for f in [1, 2, 17, 40] {
            assert_eq!(
                skipped.phys.frame_content(Ppn(f)),
                ticked.phys.frame_content(Ppn(f))
            );
        }
    }

    #[test]
    fn probe_reports_state_outstanding_lines_and_transfers() {
        let mut rig = Rig::new(&dma_cfg(16), &DramConfig::fixed(100), 64);
        let mut decls = Vec::new();
        rig.dma.declare(&mut decls);
        let names: Vec<_> = decls.iter().map(|(_, d)| d.name.as_str()).collect();
        assert_eq!(names, ["state", "outstanding", "queue", "transfers"]);
        rig.at(0, DmaDescriptor::page_to_device(1, Ppn(3), 9));
        rig.step(0);
        let sample = |rig: &Rig| {
            let mut v = Vec::new();
            rig.dma.sample(&mut v);
            v
        };
        assert_eq!(sample(&rig), [DmaState::Setup.index(), 0, 1, 0]);
        rig.step(100);
        assert_eq!(sample(&rig), [DmaState::Transfer.index(), 16, 1, 0]);
        rig.run();
        assert_eq!(sample(&rig), [DmaState::Idle.index(), 0, 0, 1]);
    }

    #[test]
    fn invalid_config_names_the_key() {
        let bad = |cfg: DmaConfig| cfg.validate().expect_err("invalid").key;
        assert_eq!(
            bad(DmaConfig {
                max_outstanding: 0,
                ..DmaConfig::default()
            }),
            "dma.max_outstanding"
        );
        assert_eq!(
            bad(DmaConfig {
                queue_depth: 0,
                ..DmaConfig::default()
            }),
            "dma.queue_depth"
        );
        assert_eq!(
            bad(DmaConfig {
                setup_ns: f64::NAN,
                ..DmaConfig::default()
            }),
            "dma.setup_ns"
        );
        assert_eq!(
            DmaEngine::new(&DmaConfig::default(), -1.0)
                .expect_err("bad frequency")
                .key,
            "core.freq_ghz"
        );
    }
}
