//! DRAM: channels, ranks, bank groups, banks and rows behind an FR-FCFS controller, or a
//! fixed latency.
//!
//! # Contract
//!
//! - Time is core cycles. Every DRAM timing parameter is converted to core cycles once, at
//!   construction, each **rounded up on its own** (`ceil(n_tck * tck_ns * core_freq_ghz)`,
//!   epsilon-safe; see [`CoreTiming`]). At 4 GHz with the DDR4-3200AA defaults one tCK is 2.5
//!   core cycles, CL = tRCD = tRP = 55 and the burst is 10, so an unloaded read costs 65 cycles
//!   on a row hit, 120 to a precharged bank and 175 on a row conflict.
//! - A request is queued with `enqueue(req, arrival)`, where `arrival` is after the last
//!   `tick`; it is refused (handed back) when its channel's queue is full, and the sender
//!   retries: back-pressure. `can_accept` says beforehand whether it would be taken.
//! - `tick(now)` advances the controller to `now` (non-decreasing) and says whether it did
//!   anything; `next_event()` is the earliest later cycle at which `tick` can do something
//!   (issue a command, or pass a request's done cycle), `None` when nothing is queued or in
//!   flight. Ticking every cycle and ticking only at `next_event()` give identical results:
//!   every decision depends on the commands before it and on arrivals, never on when `tick`
//!   was called.
//! - `pop_completion(now)` hands out requests whose data is done by `now`, in order of done
//!   cycle, ties by id.
//! - Statistics are counted when a request's column command issues (its done cycle becomes
//!   known), in the fixed model when it is enqueued; `refreshes` counts the refresh windows
//!   (over all ranks) begun by the last `tick`.
//!
//! # Models
//!
//! `ddr4` (the default; details in `ddr4.rs` and `refresh.rs`): open-page policy, command-level
//! FR-FCFS per channel (among commands ready at a cycle, row hits first, then the oldest
//! request), DDR4 bank, bank-group, rank and bus timing, and refresh. `fixed`: every request
//! completes exactly `fixed_latency` cycles after its arrival (`fixed.rs`).
//!
//! # Address mapping
//!
//! See [`AddressMapping`] and `mapping.rs`. The default, `page-interleaved`, puts the 64-byte
//! line offset in bits 0-5, the channel right above it (consecutive lines alternate channels),
//! then the column bits of the rest of the 4 KiB page (a page stays in one row), then bank
//! group, bank and rank (consecutive pages go to different banks), then the remaining column
//! bits and the row. With the default single channel: column-low 6-11, bank group 12-13, bank
//! 14-15, column-high 16, row 17-32.

mod bank;
mod completion;
mod config;
mod ddr4;
mod fixed;
mod mapping;
mod refresh;
#[cfg(test)]
mod tests;
mod timing;

pub use config::{DramConfig, DramModelKind};
pub use mapping::{AddressMapping, DramCoord};
pub use timing::CoreTiming;

use crate::{ConfigError, Cycle, PhysAddr};
use completion::CompletionQueue;
use ddr4::Ddr4;
use fixed::Fixed;
use mapping::AddressDecoder;
use serde::Serialize;

/// A memory request to DRAM: one 64-byte line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DramRequest {
    /// Chosen by the sender; comes back in the completion.
    pub id: u64,
    pub addr: PhysAddr,
    pub write: bool,
}

/// The state of the request's bank when it was served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum RowOutcome {
    /// Its row was open: a column command only.
    Hit,
    /// The bank was precharged ("row miss"): ACT, then the column command.
    Closed,
    /// Another row was open: PRE, ACT, then the column command.
    Conflict,
}

/// A served request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DramCompletion {
    pub id: u64,
    pub addr: PhysAddr,
    pub write: bool,
    pub row: RowOutcome,
    /// As passed to `enqueue`.
    pub arrival: Cycle,
    /// The cycle the data transfer ends: RD + CL + burst, or WR + CWL + burst (the fixed
    /// model: arrival + fixed_latency).
    pub done: Cycle,
}

/// DRAM counters. Subtract two snapshots (`&later - &earlier`) for a warm-up delta.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DramStats {
    pub reads: u64,
    pub writes: u64,
    pub row_hits: u64,
    /// Served from a precharged bank (`RowOutcome::Closed`).
    pub row_misses: u64,
    pub row_conflicts: u64,
    /// Refresh windows begun, over all ranks of all channels.
    pub refreshes: u64,
    /// Sum of `done - arrival` over reads, core cycles.
    pub total_read_latency: u64,
    /// Sum of `done - arrival` over writes, core cycles.
    pub total_write_latency: u64,
    /// ACT commands issued.
    pub activates: u64,
    /// PRE commands issued (refresh closes rows without one).
    pub precharges: u64,
    /// Cycles of data-bus occupancy, summed over channels.
    pub bus_busy_cycles: u64,
}

impl DramStats {
    /// Mean read latency in core cycles (0 without reads).
    pub fn mean_read_latency(&self) -> f64 {
        if self.reads == 0 {
            0.0
        } else {
            self.total_read_latency as f64 / self.reads as f64
        }
    }
}

impl std::ops::Sub for &DramStats {
    type Output = DramStats;
    /// The counts between two snapshots (saturating).
    fn sub(self, o: &DramStats) -> DramStats {
        DramStats {
            reads: self.reads.saturating_sub(o.reads),
            writes: self.writes.saturating_sub(o.writes),
            row_hits: self.row_hits.saturating_sub(o.row_hits),
            row_misses: self.row_misses.saturating_sub(o.row_misses),
            row_conflicts: self.row_conflicts.saturating_sub(o.row_conflicts),
            refreshes: self.refreshes.saturating_sub(o.refreshes),
            total_read_latency: self.total_read_latency.saturating_sub(o.total_read_latency),
            total_write_latency: self
                .total_write_latency
                .saturating_sub(o.total_write_latency),
            activates: self.activates.saturating_sub(o.activates),
            precharges: self.precharges.saturating_sub(o.precharges),
            bus_busy_cycles: self.bus_busy_cycles.saturating_sub(o.bus_busy_cycles),
        }
    }
}

#[derive(Debug)]
enum Model {
    Ddr4(Ddr4),
    Fixed(Fixed),
}

/// The DRAM of the machine: controller(s) and devices. See the module documentation for the
/// contract.
#[derive(Debug)]
pub struct Dram {
    timing: CoreTiming,
    decoder: AddressDecoder,
    model: Model,
    out: CompletionQueue,
    stats: DramStats,
    last_tick: Option<u64>,
    seq: u64,
    /// Ranks, bank groups, banks per group.
    geometry: [u32; 3],
}

impl Dram {
    /// Build the DRAM for a core clocked at `core_freq_ghz`; validates `cfg` (keys `dram.*`)
    /// and the frequency (key `core.freq_ghz`).
    pub fn new(cfg: &DramConfig, core_freq_ghz: f64) -> Result<Dram, ConfigError> {
        cfg.validate()?;
        if !(core_freq_ghz.is_finite() && core_freq_ghz > 0.0) {
            return Err(ConfigError::new(
                "core.freq_ghz",
                format!("must be a positive, finite frequency in GHz, got {core_freq_ghz}"),
            ));
        }
        let timing = CoreTiming::new(cfg, core_freq_ghz);
        if cfg.refresh && timing.rfc >= timing.refi {
            return Err(ConfigError::new(
                "dram.rfc_ns",
                format!(
                    "must be shorter than dram.refi_ns after rounding up to core cycles \
                     ({} >= {} cycles)",
                    timing.rfc, timing.refi
                ),
            ));
        }
        let model = match cfg.model {
            DramModelKind::Ddr4 => Model::Ddr4(Ddr4::new(cfg, &timing)),
            DramModelKind::Fixed => Model::Fixed(Fixed::new(cfg.channels, cfg.queue_depth)),
        };
        Ok(Dram {
            timing,
            decoder: AddressDecoder::new(cfg),
            model,
            out: CompletionQueue::with_capacity(cfg.queue_depth * cfg.channels as usize),
            stats: DramStats::default(),
            last_tick: None,
            seq: 0,
            geometry: [cfg.ranks, cfg.bank_groups, cfg.banks_per_group],
        })
    }

    /// Whether a request to `addr` would be accepted now (its channel's queue has room), as of
    /// the last `tick`.
    #[inline]
    pub fn can_accept(&self, addr: PhysAddr) -> bool {
        let ch = self.decoder.channel(addr);
        match &self.model {
            Model::Ddr4(d) => d.can_accept(ch),
            Model::Fixed(f) => f.can_accept(ch),
        }
    }

    /// Queue a request that becomes visible to the controller at cycle `arrival` (which must
    /// be after the last `tick`; an earlier one is treated as the cycle after it). Refused
    /// (handed back) if its channel's queue is full.
    pub fn enqueue(&mut self, req: DramRequest, arrival: Cycle) -> Result<(), DramRequest> {
        debug_assert!(
            self.last_tick.is_none_or(|l| arrival.0 > l),
            "DRAM request {} arrives at {arrival}, not after the last tick",
            req.id
        );
        let visible = self.last_tick.map_or(arrival.0, |l| arrival.0.max(l + 1));
        let coord = self.decoder.decode(req.addr);
        match &mut self.model {
            Model::Ddr4(d) => {
                if !d.enqueue(req, coord, arrival.0, visible, self.seq, &self.timing) {
                    return Err(req);
                }
            }
            Model::Fixed(f) => {
                if !f.can_accept(coord.channel) {
                    return Err(req);
                }
                f.occupy(coord.channel);
                let done = visible + self.timing.fixed_latency;
                let latency = done - arrival.0;
                if req.write {
                    self.stats.writes += 1;
                    self.stats.total_write_latency += latency;
                } else {
                    self.stats.reads += 1;
                    self.stats.total_read_latency += latency;
                }
                let c = DramCompletion {
                    id: req.id,
                    addr: req.addr,
                    write: req.write,
                    row: RowOutcome::Closed,
                    arrival,
                    done: Cycle(done),
                };
                self.out.push(c, coord.channel);
            }
        }
        self.seq += 1;
        Ok(())
    }

    /// Done cycles as events, for DDR4: on by default; an owner that takes every completion
    /// as soon as it is scheduled (`pop_completion(Cycle(u64::MAX))` after each tick, as
    /// `MemorySystem` does) and needs no tick at a done cycle may turn them off. Then `tick`
    /// reports progress only for the commands it issues, and `next_event` is the next command
    /// only; completions, their cycles, the statistics and every command stay the same (the
    /// done cycles decide nothing in DDR4), while keeping them costs the host a queue insert
    /// and a pass per request. The fixed model frees its queue slots at done cycles and keeps
    /// them whatever `on` says. Call before the first request.
    pub fn set_done_events(&mut self, on: bool) {
        debug_assert!(self.seq == 0, "set_done_events after a request");
        if let Model::Ddr4(_) = self.model {
            self.out.set_done_events(on);
        }
    }

    /// Advance the controller to cycle `now` (non-decreasing over calls). True if it did
    /// anything: issued a command or passed a request's done cycle (unless done events are
    /// off: [`Dram::set_done_events`]).
    pub fn tick(&mut self, now: Cycle) -> bool {
        let now = now.0;
        debug_assert!(
            self.last_tick.is_none_or(|l| now >= l),
            "DRAM ticked backwards"
        );
        let mut progress = match &mut self.model {
            Model::Ddr4(d) => d.advance(now, &self.timing, &mut self.out, &mut self.stats),
            Model::Fixed(_) => false,
        };
        let model = &mut self.model;
        progress |= self.out.retire(now, |ch| {
            if let Model::Fixed(f) = model {
                f.release(ch);
            }
        });
        self.last_tick = Some(now);
        progress
    }

    /// The earliest cycle after the last tick at which `tick` could make progress; `None` when
    /// nothing is queued or in flight (with done events off, [`Dram::set_done_events`]: when
    /// no command is waiting).
    #[inline]
    pub fn next_event(&self) -> Option<Cycle> {
        let cmd = match &self.model {
            Model::Ddr4(d) => d.next_command(),
            Model::Fixed(_) => None,
        };
        let done = self.out.next_done();
        match (cmd, done) {
            (Some(a), Some(b)) => Some(Cycle(a.min(b))),
            (a, b) => a.or(b).map(Cycle),
        }
    }

    /// The first cycle after `t` at which [`Dram::bank_states_at`] changes without a tick: a
    /// refresh window beginning (on any rank), or a PRE or ACT that an owner ticking only at
    /// [`Dram::next_state_change`] lets the controller issue later, in order (the next command
    /// as of `t`, which may also be a column command). None when neither is ahead. A probe steps
    /// the engine there to show each bank change at its cycle.
    pub fn next_refresh_after(&self, t: Cycle) -> Option<Cycle> {
        match &self.model {
            Model::Ddr4(d) => {
                let refresh = d.next_refresh_after(t.0);
                let view = self.ddr4_at(d, t.0);
                let command = view.as_ref().unwrap_or(d).next_command();
                match (refresh, command) {
                    (Some(r), Some(c)) => Some(Cycle(r.min(c))),
                    (r, c) => r.or(c).map(Cycle),
                }
            }
            Model::Fixed(_) => None,
        }
    }

    /// The controller as a tick at `at` would leave it, when commands due by then were not
    /// issued yet (`None`: nothing is due, the controller itself is that view). For views only:
    /// the statistics and completions of the copy are dropped.
    fn ddr4_at(&self, d: &Ddr4, at: u64) -> Option<Ddr4> {
        if d.next_command().is_none_or(|c| c > at) {
            return None;
        }
        let mut copy = d.clone();
        let mut out = CompletionQueue::with_capacity(0);
        let mut stats = DramStats::default();
        copy.catch_up(at, &self.timing, &mut out, &mut stats);
        Some(copy)
    }

    /// The earliest cycle at which `tick` changes what the controller shows its owner, for an
    /// owner that takes completions as soon as they are scheduled
    /// (`pop_completion(Cycle(u64::MAX))`): DDR4 only at a column command (a lower bound of
    /// its cycle: the request leaves the queue, frees its slot and gets its done cycle then;
    /// the PRE and ACT before it are issued by the tick that reaches them, with the same
    /// timing); the fixed model frees slots at done. See [`Dram::next_event`] for the cycle of
    /// the next command.
    #[inline]
    pub fn next_state_change(&self) -> Option<Cycle> {
        match &self.model {
            Model::Ddr4(d) => d.next_column_bound().map(Cycle),
            Model::Fixed(_) => self.out.next_done().map(Cycle),
        }
    }

    /// Bring the statistics up to cycle `now`, so that those taken at the end of a run do not
    /// depend on when the controller was last ticked: count the refreshes begun by then, and
    /// issue the PRE and ACT commands due by then that an owner ticking only at
    /// [`Dram::next_state_change`] has not had issued yet (a column command due by then would
    /// have woken it).
    pub fn settle(&mut self, now: Cycle) {
        if let Model::Ddr4(d) = &mut self.model {
            d.catch_up(now.0, &self.timing, &mut self.out, &mut self.stats);
            d.count_refreshes(now.0, &mut self.stats);
        }
    }

    /// Take one completion whose `done <= now` (in order of done, ties by id).
    #[inline]
    pub fn pop_completion(&mut self, now: Cycle) -> Option<DramCompletion> {
        self.out.pop(now.0)
    }

    pub fn stats(&self) -> &DramStats {
        &self.stats
    }

    /// Timing parameters after conversion to core cycles.
    pub fn timing(&self) -> &CoreTiming {
        &self.timing
    }

    /// Requests queued or in flight (not yet taken by `pop_completion`).
    #[inline]
    pub fn outstanding(&self) -> usize {
        let queued = match &self.model {
            Model::Ddr4(d) => d.queued(),
            Model::Fixed(_) => 0,
        };
        queued + self.out.len()
    }

    /// Where `addr` lives: channel, rank, bank group, bank, row, column.
    pub fn decode(&self, addr: PhysAddr) -> DramCoord {
        self.decoder.decode(addr)
    }

    /// The flat bank index of `bank_states` for a coordinate:
    /// `((channel * ranks + rank) * bank_groups + bank_group) * banks_per_group + bank`.
    pub fn flat_bank(&self, c: &DramCoord) -> usize {
        let [ranks, groups, banks] = self.geometry.map(|n| n as usize);
        ((c.channel as usize * ranks + c.rank as usize) * groups + c.bank_group as usize) * banks
            + c.bank as usize
    }

    /// Signals for waveforms: per bank (flat index, see [`Dram::flat_bank`]), the row open as
    /// of the last tick (refresh closes rows). Empty for the fixed model, which has no banks.
    pub fn bank_states(&self) -> impl Iterator<Item = (usize, Option<u32>)> + '_ {
        self.bank_states_at(Cycle(self.last_tick.unwrap_or(0)))
    }

    /// [`Dram::bank_states_at`] appended to `out` as waveforms show it: the open row, or all
    /// ones (`u32::MAX`) for a precharged bank.
    pub fn push_bank_rows_at(&self, at: Cycle, out: &mut Vec<u64>) {
        let now = at.0.max(self.last_tick.unwrap_or(0));
        if let Model::Ddr4(d) = &self.model {
            let view = self.ddr4_at(d, now);
            view.as_ref()
                .unwrap_or(d)
                .push_open_rows(now, u64::from(u32::MAX), out);
        }
    }

    /// [`Dram::bank_states`] at cycle `at` (not before the last tick, nothing ticked since):
    /// as a tick at `at` would leave them, with the commands due by then issued and the rows
    /// closed by refresh windows that began by then.
    pub fn bank_states_at(&self, at: Cycle) -> impl Iterator<Item = (usize, Option<u32>)> + '_ {
        let now = at.0.max(self.last_tick.unwrap_or(0));
        let rows: Vec<Option<u32>> = match &self.model {
            Model::Ddr4(d) => {
                let view = self.ddr4_at(d, now);
                view.as_ref().unwrap_or(d).open_rows(now).collect()
            }
            Model::Fixed(_) => Vec::new(),
        };
        rows.into_iter().enumerate()
    }
}
