//! The DDR4 model: per channel, a request queue and an FR-FCFS controller issuing PRE, ACT,
//! RD and WR commands one at a time against bank, bank-group, rank and bus timing.
//!
//! # Scheduling, and why skipping cycles changes nothing
//!
//! The controller is command-level: each queued request has a *next command* (PRE if another
//! row is open in its bank, ACT if the bank is precharged, RD/WR if its row is open) and the
//! earliest cycle at which that command may issue, given every constraint recorded so far and
//! the request's arrival. At any cycle a per-cycle controller would issue, among the commands
//! ready then, a column command (row hit) first, otherwise the oldest request's; the earliest
//! such cycle is the minimum of the requests' earliest cycles. So the controller keeps the
//! request with the smallest key `(earliest cycle, not a column command, arrival, enqueue
//! order)`; `tick(now)` issues that command while its cycle is <= `now`, recomputes the keys
//! (the new command changes constraints) and repeats. A command's cycle depends only on the
//! commands before it and on arrivals, never on when `tick` was called; requests enqueued later
//! arrive after the last tick, so they cannot change a decision already taken. One command per
//! tCK per channel (the command bus), so the earliest cycles strictly increase.
//!
//! A request leaves the queue (freeing its slot) when its column command issues; its data is
//! done at RD + CL + burst or WR + CWL + burst. Bursts on a channel's data bus never overlap,
//! so done cycles of one channel increase in issue order.
//!
//! For the same reason the owner need not tick at a PRE or ACT: nothing it can see changes
//! until the column command, and a later tick issues the PRE and ACT due before it in order,
//! with the same timing. The controller keeps a lower bound of the next column command's cycle
//! ([`Ddr4::next_column_bound`]), which is when `MemorySystem` next ticks it; a row conflict
//! that costs PRE, ACT and RD wakes the engine once or twice instead of three times.
//!
//! The channel queue usually holds one request. For it, a fused path
//! ([`Channel::step_sole`]) issues the due part of its PRE, ACT, RD/WR chain in one go and
//! plans each next command directly, without replanning the queue after each; it computes the
//! same plans as the general path (a test compares the two command by command). When a second
//! request joined it (a read behind a victim's write), the first one's commands due before the
//! second is visible take the same chain ([`Channel::step_ahead`]): nothing of the second can
//! issue before that cycle.
//!
//! Constraints modelled: tRCD (ACT to RD/WR), tRAS (ACT to PRE), tRP (PRE to ACT), tRTP (RD
//! to PRE), tWR (end of write data to PRE), tCCD_S/L (column to column, L within a bank group;
//! S also between ranks), tRRD_S/L and tFAW (ACTs of a rank), tWTR_S/L (end of write data to
//! RD in the rank), data-bus occupancy (which also gives the RD-to-WR turnaround), one command
//! per tCK, and refresh (see `refresh.rs`). Not modelled: rank-to-rank bus switching time,
//! power-down, and the extra 2 tCK of DDR4's read-to-write turnaround.
//!
//! Starvation: as in plain FR-FCFS (Rixner et al., ISCA 2000) there is no cap; a conflicting
//! request waits for as long as row hits to the open row keep being ready first (a hit every
//! tCCD_L keeps pushing tRTP ahead of the waiting PRE). With cache-miss traffic such runs end
//! with the row's lines (128 by default).

use super::bank::{Bank, BankGroup, Buses, Rank};
use super::completion::CompletionQueue;
use super::config::DramConfig;
use super::refresh::{Epoch, RefreshSchedule};
use super::timing::CoreTiming;
use super::{DramCompletion, DramCoord, DramRequest, DramStats, RowOutcome};
use crate::{Cycle, PhysAddr};

/// The next command a request needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Cmd {
    Col,
    Pre,
    Act,
}

/// A request waiting in a channel's queue.
#[derive(Clone, Copy, Debug)]
struct Entry {
    id: u64,
    addr: PhysAddr,
    write: bool,
    /// As the caller gave it (reported in the completion).
    arrival: u64,
    /// First cycle the controller may act on it (= arrival for callers that keep the contract).
    visible: u64,
    /// Enqueue order, for age ties.
    seq: u64,
    rank: u32,
    /// Bank group index within the channel: rank * bank_groups + group.
    group: u32,
    /// Bank index within the channel: rank * banks_per_rank + group * banks_per_group + bank.
    bank: u32,
    row: u32,
    /// The worst row state its commands met so far.
    outcome: RowOutcome,
}

/// The command the controller issues next for one queue entry, and when. Plans are ordered by
/// [`Channel::before`].
#[derive(Clone, Copy, Debug)]
struct Plan {
    at: u64,
    /// The earliest cycle at which any column command can issue for this request's bank and
    /// row (see [`Ddr4::next_column_bound`]).
    col_bound: u64,
    /// The rank's refresh epoch at `at`.
    epoch: u64,
    /// Position in the queue.
    idx: usize,
    cmd: Cmd,
    /// Planned from a cycle of an earlier refresh epoch than `at`'s (by
    /// [`Site::plan_after_refresh`]): never kept by [`Plan::unaffected`].
    refreshed: bool,
}

impl Plan {
    /// No plan: an empty queue (`at` is never reached).
    const NONE: Plan = Plan {
        at: u64::MAX,
        col_bound: u64::MAX,
        epoch: 0,
        idx: 0,
        cmd: Cmd::Col,
        refreshed: false,
    };

    /// Whether this plan of queue entry `e` is still what [`Site::plan`] gives after command
    /// `x` issued to another request, in bank `bank` of rank `rank`, leaving the command bus
    /// free from `next_cmd` on.
    ///
    /// The command changed only its own bank (a PRE only that), its bank group's and rank's
    /// ACT constraints (ACT), or its bank group's, rank's and the channel's column constraints
    /// (RD/WR), and the command bus. When `e` is in another bank and its command reads none of
    /// those (no ACT after an ACT in the same rank, no column command after a column command),
    /// only its first possible cycle `lo = max(visible, next_cmd)` moved, from `lo0` to `lo1 >=
    /// lo0`. If `lo1 <= at`, then `lo0 <= lo1 <= at` lie in one refresh epoch (a plan stays in
    /// the epoch of its `lo`, unless `refreshed`), `plan_in` sees the same bank state and the
    /// same constraints, and `at = max(lo0, ready, open_from)` equals `max(lo1, ready,
    /// open_from)`: the same plan.
    #[inline(always)]
    fn unaffected(&self, e: &Entry, x: Cmd, bank: u32, rank: u32, next_cmd: u64) -> bool {
        let reads_changed = match (x, self.cmd) {
            (Cmd::Act, Cmd::Act) => e.rank == rank,
            (Cmd::Col, Cmd::Col) => true,
            _ => false,
        };
        !reads_changed && !self.refreshed && e.bank != bank && self.at >= next_cmd
    }
}

#[derive(Clone, Debug)]
struct Channel {
    queue: Vec<Entry>,
    banks: Vec<Bank>,
    groups: Vec<BankGroup>,
    ranks: Vec<RankSlot>,
    buses: Buses,
    /// The first plan by [`Channel::before`] (`Plan::NONE` when the queue is empty).
    best: Plan,
    /// With two requests queued, the other one's plan (see [`Channel::step`]); stale otherwise.
    other: Plan,
    /// The smallest `col_bound` of the queue's plans (`u64::MAX` when empty).
    col_bound: u64,
    /// Tests: send a queue of one down the general path too (see [`Channel::fused`]).
    #[cfg(test)]
    general_only: bool,
    /// Tests: every command issued, as (cycle, command, request id).
    #[cfg(test)]
    log: Vec<(u64, Cmd, u64)>,
    /// Tests: calls of [`Channel::step_sole`], plans in it that fell back to `plan(0)` because
    /// a refresh began, plans [`Channel::step`] kept for a queue of two, and calls of
    /// [`Channel::step_ahead`].
    #[cfg(test)]
    sole: [u64; 4],
}

/// The DDR4 controller and devices of every channel.
#[derive(Clone, Debug)]
pub(super) struct Ddr4 {
    channels: Vec<Channel>,
    refresh: RefreshSchedule,
    bank_groups: u32,
    banks_per_group: u32,
    banks_per_rank: u32,
    depth: usize,
    queued: usize,
    /// The next refresh window start not yet counted in `DramStats::refreshes` (`u64::MAX`:
    /// none, refresh is off).
    next_refresh: u64,
    /// The cycle of the next command on any channel (the smallest `best.at`; `u64::MAX` when
    /// nothing is queued).
    next_command: u64,
    /// No column command issues on any channel before this cycle (the smallest `col_bound`;
    /// `u64::MAX` when nothing is queued).
    next_col: u64,
}

impl Ddr4 {
    pub(super) fn new(cfg: &DramConfig, t: &CoreTiming) -> Ddr4 {
        let banks = cfg.banks_per_channel() as usize;
        let groups = (cfg.ranks * cfg.bank_groups) as usize;
        let refresh = RefreshSchedule::new(t, cfg.refresh, cfg.ranks);
        let channel = Channel {
            queue: Vec::with_capacity(cfg.queue_depth),
            banks: vec![Bank::default(); banks],
            groups: vec![BankGroup::default(); groups],
            ranks: (0..cfg.ranks as usize)
                .map(|r| RankSlot {
                    timing: Rank::default(),
                    epoch: refresh.epoch_at(r, 0),
                })
                .collect(),
            buses: Buses::default(),
            best: Plan::NONE,
            other: Plan::NONE,
            col_bound: u64::MAX,
            #[cfg(test)]
            general_only: false,
            #[cfg(test)]
            log: Vec::new(),
            #[cfg(test)]
            sole: [0; 4],
        };
        Ddr4 {
            channels: vec![channel; cfg.channels as usize],
            next_refresh: refresh.next_start_after(0).unwrap_or(u64::MAX),
            refresh,
            bank_groups: cfg.bank_groups,
            banks_per_group: cfg.banks_per_group,
            banks_per_rank: cfg.banks_per_rank(),
            depth: cfg.queue_depth,
            queued: 0,
            next_command: u64::MAX,
            next_col: u64::MAX,
        }
    }

    #[inline]
    pub(super) fn can_accept(&self, channel: u32) -> bool {
        self.channels[channel as usize].queue.len() < self.depth
    }

    /// Requests waiting for their column command, over all channels.
    #[inline]
    pub(super) fn queued(&self) -> usize {
        self.queued
    }

    /// Queue `req` if its channel's queue has room (else false: refused); the controller may
    /// act on it from `visible` on.
    pub(super) fn enqueue(
        &mut self,
        req: DramRequest,
        coord: DramCoord,
        arrival: u64,
        visible: u64,
        seq: u64,
        t: &CoreTiming,
    ) -> bool {
        let ch = &mut self.channels[coord.channel as usize];
        if ch.queue.len() >= self.depth {
            return false;
        }
        let e = Entry {
            id: req.id,
            addr: req.addr,
            write: req.write,
            arrival,
            visible,
            seq,
            rank: coord.rank,
            group: coord.rank * self.bank_groups + coord.bank_group,
            bank: coord.rank * self.banks_per_rank
                + coord.bank_group * self.banks_per_group
                + coord.bank,
            row: coord.row,
            outcome: RowOutcome::Hit,
        };
        // Queued first and planned in place: no copy of the entry.
        let idx = ch.queue.len();
        ch.queue.push(e);
        let p = ch.plan(idx, t, &self.refresh);
        self.queued += 1;
        if ch.best.at == u64::MAX {
            ch.best = p;
            self.next_command = self.next_command.min(p.at);
        } else if ch.before(&p, &ch.best) {
            ch.other = ch.best;
            ch.best = p;
            self.next_command = self.next_command.min(p.at);
        } else {
            ch.other = p;
        }
        // Planned against the state as of the last tick: if commands are still due before
        // `visible`, the next tick issues them and replans; until then this bound is a lower
        // one (constraints only grow), which is all `next_column_bound` promises.
        ch.col_bound = ch.col_bound.min(p.col_bound);
        self.next_col = self.next_col.min(p.col_bound);
        true
    }

    /// Issue every command due at or before `now`; true if any was issued.
    #[inline]
    pub(super) fn advance(
        &mut self,
        now: u64,
        t: &CoreTiming,
        out: &mut CompletionQueue,
        stats: &mut DramStats,
    ) -> bool {
        let command_due = self.next_command <= now && self.next_command != u64::MAX;
        if command_due {
            self.issue_due(now, t, out, stats);
        }
        self.count_refreshes(now, stats);
        command_due
    }

    /// Issue, channel by channel, every command due at or before `now`. Inlined into the
    /// owner's tick: out of line it costs a call and the loop's setup on every tick.
    #[inline(always)]
    fn issue_due(
        &mut self,
        now: u64,
        t: &CoreTiming,
        out: &mut CompletionQueue,
        stats: &mut DramStats,
    ) {
        // Plans are never at u64::MAX (that is `Plan::NONE`, an empty queue).
        let now = now.min(u64::MAX - 1);
        let mut next = u64::MAX;
        let mut next_col = u64::MAX;
        let promised = self.next_col;
        for (ci, ch) in self.channels.iter_mut().enumerate() {
            while ch.best.at <= now {
                debug_assert!(
                    ch.best.cmd != Cmd::Col || ch.best.at >= promised,
                    "column command at {} before its bound {promised}",
                    ch.best.at
                );
                let left = match ch.queue.len() {
                    1 if ch.fused() => {
                        ch.step_sole(now, ci as u32, promised, t, &self.refresh, out, stats)
                    }
                    2 if ch.ahead() => {
                        ch.step_ahead(now, ci as u32, promised, t, &self.refresh, out, stats)
                    }
                    _ => ch.step(ci as u32, t, &self.refresh, out, stats),
                };
                if left {
                    self.queued -= 1;
                }
            }
            next = next.min(ch.best.at);
            next_col = next_col.min(ch.col_bound);
        }
        self.next_command = next;
        self.next_col = next_col;
    }

    /// Issue every command due at or before `now` without counting refreshes: what `advance`
    /// would have issued, for `settle` and for views of the state at a cycle.
    pub(super) fn catch_up(
        &mut self,
        now: u64,
        t: &CoreTiming,
        out: &mut CompletionQueue,
        stats: &mut DramStats,
    ) {
        if self.next_command <= now && self.next_command != u64::MAX {
            self.issue_due(now, t, out, stats);
        }
    }

    /// A lower bound of the cycle of the next column command on any channel, given the
    /// requests queued so far (`None` when none is).
    ///
    /// PRE and ACT change nothing outside the controller: a request leaves the queue, frees its
    /// slot and gets its done cycle only with its column command. An owner that takes
    /// completions as soon as they are scheduled may therefore tick only at this cycle; the
    /// tick issues the PRE and ACT commands due before it, in order, exactly as ticking at each
    /// of them would (every decision depends on the commands before it and on arrivals, and a
    /// request enqueued later arrives after the last tick).
    ///
    /// Per request, with `p` its next command planned at `at` (the earliest cycle it can issue
    /// given the constraints so far, which only grow): a column command cannot issue before
    /// `at`; after an ACT, not before `at + tRCD`; after a PRE, its row must be opened by an
    /// ACT after a PRE of its bank (not before `at + tRP`, or another waiting request's PRE of
    /// the bank, covered by that request's own bound) or after a refresh closes the bank (not
    /// before the next refresh start), so not before `min(at + tRP, next refresh) + tRCD`. The
    /// first column command to issue meets the bound of some request of its bank, so the
    /// minimum over the queue bounds it.
    #[inline]
    pub(super) fn next_column_bound(&self) -> Option<u64> {
        (self.next_col != u64::MAX).then_some(self.next_col)
    }

    /// Count the refresh windows that began up to `now`.
    pub(super) fn count_refreshes(&mut self, now: u64, stats: &mut DramStats) {
        // (With refresh off `next_refresh` is u64::MAX and counting gives 0 again.)
        if self.next_refresh <= now {
            stats.refreshes = self.refresh.count(now) * self.channels.len() as u64;
            self.next_refresh = self.refresh.next_start_after(now).unwrap_or(u64::MAX);
        }
    }

    /// The first refresh window start of any rank after `t`.
    pub(super) fn next_refresh_after(&self, t: u64) -> Option<u64> {
        self.refresh.next_start_after(t)
    }

    /// The cycle of the next command on any channel.
    #[inline]
    pub(super) fn next_command(&self) -> Option<u64> {
        (self.next_command != u64::MAX).then_some(self.next_command)
    }

    /// Per bank (flat over channels), the row open at cycle `now` appended to `out`, or
    /// `closed` for a precharged bank: [`Ddr4::open_rows`] without an iterator per bank, for
    /// waveforms sampled every step.
    pub(super) fn push_open_rows(&self, now: u64, closed: u64, out: &mut Vec<u64>) {
        let per_rank = self.banks_per_rank as usize;
        for ch in &self.channels {
            for (rank, banks) in ch.banks.chunks(per_rank).enumerate() {
                let epoch = self.refresh.epoch(rank, now);
                out.extend(banks.iter().map(|b| match b.open_row {
                    Some(row) if epoch <= b.epoch => u64::from(row),
                    _ => closed,
                }));
            }
        }
    }

    /// Per bank (flat over channels), the row open at cycle `now`.
    pub(super) fn open_rows(&self, now: u64) -> impl Iterator<Item = Option<u32>> + '_ {
        let per_rank = self.banks_per_rank as usize;
        self.channels.iter().flat_map(move |ch| {
            ch.banks.iter().enumerate().map(move |(i, b)| {
                if self.refresh.epoch(i / per_rank, now) > b.epoch {
                    None
                } else {
                    b.open_row
                }
            })
        })
    }
}

#[cfg(test)]
impl Ddr4 {
    /// Send every queue down the general path (no fused path for a queue of one).
    pub(super) fn force_general_path(&mut self) {
        for ch in &mut self.channels {
            ch.general_only = true;
        }
    }

    /// Per channel, the commands issued so far as (cycle, command, request id).
    pub(super) fn command_log(&self) -> Vec<Vec<(u64, Cmd, u64)>> {
        self.channels.iter().map(|ch| ch.log.clone()).collect()
    }

    /// Over channels: calls of the fused path, its plans that fell back to `plan(0)`, the plans
    /// kept for a queue of two, and calls of the fused path for the request ahead of another.
    pub(super) fn fused_counts(&self) -> [u64; 4] {
        let mut n = [0; 4];
        for ch in &self.channels {
            for (a, b) in n.iter_mut().zip(ch.sole) {
                *a += b;
            }
        }
        n
    }
}

/// A rank's timing state and its refresh epoch cache, found with one lookup.
#[derive(Clone, Debug)]
struct RankSlot {
    timing: Rank,
    /// The refresh epoch of the last cycle planned at (a cache: most plans fall in the same
    /// epoch, and finding one takes a division).
    epoch: Epoch,
}

/// What one request's commands read and write: its bank, bank group and rank (with the rank's
/// refresh epoch cache), and the channel's buses. Borrowed once per request (one bounds check
/// each) rather than indexed on every access; planning and issuing a command work on it.
struct Site<'a> {
    bank: &'a mut Bank,
    group: &'a mut BankGroup,
    rank: &'a mut RankSlot,
    buses: &'a mut Buses,
    /// Tests: the channel's command log.
    #[cfg(test)]
    log: &'a mut Vec<(u64, Cmd, u64)>,
}

/// How [`Channel::chain`] left its request.
enum Sole {
    /// Its column command issued: it left the queue.
    Left,
    /// Its next command, not due by the limit.
    Wait(Plan),
    /// A refresh began in its chain: plan it the general way.
    Replan,
}

impl Channel {
    /// Queue entry `idx` and its site.
    #[inline(always)]
    fn parts(&mut self, idx: usize) -> (&mut Entry, Site<'_>) {
        let e = &mut self.queue[idx];
        let site = Site {
            bank: &mut self.banks[e.bank as usize],
            group: &mut self.groups[e.group as usize],
            rank: &mut self.ranks[e.rank as usize],
            buses: &mut self.buses,
            #[cfg(test)]
            log: &mut self.log,
        };
        (e, site)
    }

    /// The next command of queue entry `idx` and the earliest cycle it may issue.
    #[inline(always)]
    fn plan(&mut self, idx: usize, t: &CoreTiming, refresh: &RefreshSchedule) -> Plan {
        let (e, mut s) = self.parts(idx);
        s.plan(e, idx, t, refresh)
    }

    /// Whether plan `a` goes before plan `b`: the smaller `(at, not a column command, arrival,
    /// enqueue order)`, the controller's priority (the enqueue order is unique).
    #[inline(always)]
    fn before(&self, a: &Plan, b: &Plan) -> bool {
        let (ka, kb) = ((a.at, a.cmd != Cmd::Col), (b.at, b.cmd != Cmd::Col));
        if ka != kb {
            return ka < kb;
        }
        let (ea, eb) = (&self.queue[a.idx], &self.queue[b.idx]);
        (ea.arrival, ea.seq) < (eb.arrival, eb.seq)
    }

    /// Issue the best plan's command and plan again; true if it was a column command (the
    /// request left the queue). Not inlined into the loop of `Ddr4::issue_due`, which would
    /// load every timing parameter up front for the one or two commands a tick usually issues
    /// (inlined, a quick mix of random accesses costs 54 instructions per access more).
    ///
    /// After a PRE or ACT the request's next command is planned on its site at once, directly
    /// by [`Site::plan_next`] as in [`Channel::step_sole`] when no refresh intervenes. With two
    /// requests queued (the usual case here: a dirty victim's writeback next to a read), the
    /// other request keeps its plan (`other`) where [`Plan::unaffected`] shows that the command
    /// cannot have changed it. Tests of the general path (`general_only`) plan everything
    /// again instead.
    #[inline(never)]
    fn step(
        &mut self,
        channel: u32,
        t: &CoreTiming,
        refresh: &RefreshSchedule,
        out: &mut CompletionQueue,
        stats: &mut DramStats,
    ) -> bool {
        let p = self.best;
        let shortcuts = self.fused();
        let pair = self.queue.len() == 2 && shortcuts;
        let (e, mut s) = self.parts(p.idx);
        let (bank, rank) = (e.bank, e.rank);
        let next = match p.cmd {
            Cmd::Pre => {
                s.issue_pre(e, &p, t, refresh, stats);
                Cmd::Act
            }
            Cmd::Act => {
                s.issue_act(e, &p, t, refresh, stats);
                Cmd::Col
            }
            Cmd::Col => {
                out.push(s.issue_col(e, &p, t, refresh, stats), channel);
                self.remove(p.idx);
                if pair {
                    // The other request, now alone at 0.
                    let q = self.kept_or_planned(0, &p, bank, rank, t, refresh);
                    self.best = q;
                    self.col_bound = q.col_bound;
                } else {
                    self.replan(t, refresh);
                }
                return true;
            }
        };
        let direct = if shortcuts {
            s.plan_next(e, p.idx, &p, next, t, refresh)
        } else {
            None
        };
        let own = match direct {
            Some(q) => q,
            None => s.plan(e, p.idx, t, refresh),
        };
        if pair {
            let q = self.kept_or_planned(1 - p.idx, &p, bank, rank, t, refresh);
            let (best, other) = if self.before(&own, &q) {
                (own, q)
            } else {
                (q, own)
            };
            self.best = best;
            self.other = other;
            self.col_bound = own.col_bound.min(q.col_bound);
        } else {
            self.replan_with(own, t, refresh);
        }
        false
    }

    /// In a queue of two, after command `x` of the request in bank `bank` of rank `rank`: the
    /// plan of the other request, now at `idx`, kept from `other` if the command cannot have
    /// changed it, else planned again.
    #[inline(always)]
    fn kept_or_planned(
        &mut self,
        idx: usize,
        x: &Plan,
        bank: u32,
        rank: u32,
        t: &CoreTiming,
        refresh: &RefreshSchedule,
    ) -> Plan {
        let o = self.other;
        if o.unaffected(&self.queue[idx], x.cmd, bank, rank, self.buses.next_cmd) {
            #[cfg(test)]
            {
                self.sole[2] += 1;
            }
            Plan { idx, ..o }
        } else {
            self.plan(idx, t, refresh)
        }
    }

    /// Take entry `idx` out of the queue (its column command issued).
    #[inline(always)]
    fn remove(&mut self, idx: usize) {
        // Usually the only entry: no need to move the last one into its place.
        if idx + 1 == self.queue.len() {
            self.queue.pop();
        } else {
            self.queue.swap_remove(idx);
        }
    }

    /// Whether a queue of one takes the fused path ([`Channel::step_sole`]): always, except in
    /// tests that compare it with the general path.
    #[inline(always)]
    fn fused(&self) -> bool {
        #[cfg(test)]
        return !self.general_only;
        #[cfg(not(test))]
        true
    }

    /// [`Channel::step`] for a queue of one request (the usual case), fused: issue its PRE, ACT
    /// and column command as far as they are due at or before `now`, in one go
    /// ([`Channel::chain`]); true if the request left the queue. When a refresh began in the
    /// chain, the next command is planned the general way, by `plan(0)`.
    ///
    /// Inlined into the owner's tick (through `Ddr4::issue_due`): as a call, its arguments,
    /// prologue and spills cost about 40 instructions per lone request (bench (b): 85
    /// instructions per access more). The general [`Channel::step`] stays out of line.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn step_sole(
        &mut self,
        now: u64,
        channel: u32,
        promised: u64,
        t: &CoreTiming,
        refresh: &RefreshSchedule,
        out: &mut CompletionQueue,
        stats: &mut DramStats,
    ) -> bool {
        #[cfg(test)]
        {
            self.sole[0] += 1;
        }
        match self.chain(0, now, channel, promised, t, refresh, out, stats) {
            Sole::Left => {
                self.queue.clear();
                self.best = Plan::NONE;
                self.col_bound = u64::MAX;
                true
            }
            Sole::Wait(p) => {
                self.best = p;
                self.col_bound = p.col_bound;
                false
            }
            Sole::Replan => {
                #[cfg(test)]
                {
                    self.sole[1] += 1;
                }
                let p = self.plan(0, t, refresh);
                self.best = p;
                self.col_bound = p.col_bound;
                false
            }
        }
    }

    /// Whether a queue of two takes [`Channel::step_ahead`]: its best command is due before
    /// the other request becomes visible (except in tests of the general path).
    #[inline(always)]
    fn ahead(&self) -> bool {
        self.fused() && self.best.at < self.queue[1 - self.best.idx].visible
    }

    /// [`Channel::step`] for a queue of two whose best command, of request `a`, is due before
    /// the other request `b` becomes visible (the usual pair: a read that arrived while a
    /// victim's write, alone before it, still had its PRE and ACT to issue): issue `a`'s
    /// chain as [`Channel::step_sole`] would, as far as it is due at or before `now` and before
    /// `b` is visible, then plan `b` once; true if `a` left the queue.
    ///
    /// Exact: every plan of `b` is at or after its visible cycle (`lo >= visible`), so while
    /// `a`'s next command is due before that cycle it is the controller's first choice (the
    /// general path would issue it next too), planned from the state alone as if `a` were
    /// the only request (a request's plan reads only its own entry and the state). The plans
    /// the general path makes for `b` on the way are never chosen; its plan afterwards is
    /// `plan(b)` of the resulting state, which is what that path keeps or computes (see
    /// [`Plan::unaffected`]).
    ///
    /// Inlined as [`Channel::step_sole`] is (bench (b): 22 instructions per access fewer).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn step_ahead(
        &mut self,
        now: u64,
        channel: u32,
        promised: u64,
        t: &CoreTiming,
        refresh: &RefreshSchedule,
        out: &mut CompletionQueue,
        stats: &mut DramStats,
    ) -> bool {
        #[cfg(test)]
        {
            self.sole[3] += 1;
        }
        let a = self.best.idx;
        let b = 1 - a;
        // `best.at < visible`, so `visible >= 1`.
        let limit = now.min(self.queue[b].visible - 1);
        let own = match self.chain(a, limit, channel, promised, t, refresh, out, stats) {
            Sole::Left => {
                self.remove(a);
                let q = self.plan(0, t, refresh);
                self.best = q;
                self.col_bound = q.col_bound;
                return true;
            }
            Sole::Wait(p) => p,
            Sole::Replan => self.plan(a, t, refresh),
        };
        let q = self.plan(b, t, refresh);
        let (best, other) = if self.before(&own, &q) {
            (own, q)
        } else {
            (q, own)
        };
        self.best = best;
        self.other = other;
        self.col_bound = own.col_bound.min(q.col_bound);
        false
    }

    /// Issue the PRE, ACT and column command of queue entry `idx`, whose next command is the
    /// best plan, as far as they are due at or before `limit` (the first one is), on its site
    /// borrowed once, planning each next one directly ([`Site::plan_next`]) instead of
    /// replanning the queue. It stops early when a refresh began in the chain: the next command
    /// is then to be planned the general way, by `plan(idx)`.
    ///
    /// Exact for a request whose commands are the controller's first choice up to `limit`:
    /// each plan is what `plan(idx)` would give (see [`Site::plan_next`]), and each command
    /// issues while its plan is due, as in the loop of `Ddr4::issue_due`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn chain(
        &mut self,
        idx: usize,
        limit: u64,
        channel: u32,
        promised: u64,
        t: &CoreTiming,
        refresh: &RefreshSchedule,
        out: &mut CompletionQueue,
        stats: &mut DramStats,
    ) -> Sole {
        let mut p = self.best;
        debug_assert_eq!(p.idx, idx);
        let (e, mut s) = self.parts(idx);
        if p.cmd == Cmd::Pre {
            s.issue_pre(e, &p, t, refresh, stats);
            p = match s.plan_next(e, idx, &p, Cmd::Act, t, refresh) {
                Some(q) => q,
                None => return Sole::Replan,
            };
            if p.at > limit {
                return Sole::Wait(p);
            }
        }
        if p.cmd == Cmd::Act {
            s.issue_act(e, &p, t, refresh, stats);
            p = match s.plan_next(e, idx, &p, Cmd::Col, t, refresh) {
                Some(q) => q,
                None => return Sole::Replan,
            };
            if p.at > limit {
                return Sole::Wait(p);
            }
            debug_assert!(
                p.at >= promised,
                "column command at {} before its bound {promised}",
                p.at
            );
        }
        out.push(s.issue_col(e, &p, t, refresh, stats), channel);
        Sole::Left
    }

    /// Recompute the best plan after the state changed.
    #[inline(always)]
    fn replan(&mut self, t: &CoreTiming, refresh: &RefreshSchedule) {
        match self.queue.len() {
            0 => {
                self.best = Plan::NONE;
                self.col_bound = u64::MAX;
            }
            1 => {
                let p = self.plan(0, t, refresh);
                self.best = p;
                self.col_bound = p.col_bound;
            }
            _ => self.replan_queue(None, t, refresh),
        }
    }

    /// `replan` when the plan of the request just served by a PRE or ACT is known: `own`.
    #[inline(always)]
    fn replan_with(&mut self, own: Plan, t: &CoreTiming, refresh: &RefreshSchedule) {
        if self.queue.len() == 1 {
            self.best = own;
            self.col_bound = own.col_bound;
        } else {
            self.replan_queue(Some(own), t, refresh);
        }
    }

    /// `replan` of a queue of two or more, with the plan of entry `own.idx` already made if
    /// `own` is given; with two, also sets `other`. Out of line, so that `step` does not keep
    /// this loop's invariants in registers (or spilled) for the usual queue of one.
    #[inline(never)]
    fn replan_queue(&mut self, own: Option<Plan>, t: &CoreTiming, refresh: &RefreshSchedule) {
        let mut best = Plan::NONE;
        let mut other = Plan::NONE;
        let mut col_bound = u64::MAX;
        for i in 0..self.queue.len() {
            let p = match own {
                Some(p) if p.idx == i => p,
                _ => self.plan(i, t, refresh),
            };
            col_bound = col_bound.min(p.col_bound);
            if best.at == u64::MAX || self.before(&p, &best) {
                other = best;
                best = p;
            } else {
                other = p;
            }
        }
        self.best = best;
        self.other = other;
        self.col_bound = col_bound;
    }
}

impl Site<'_> {
    /// The refresh epoch of `rank` (this site's) at cycle `t`, from the cache when `t` falls in
    /// the last one.
    #[inline(always)]
    fn epoch_at(&mut self, rank: u32, t: u64, refresh: &RefreshSchedule) -> Epoch {
        let cached = &mut self.rank.epoch;
        if !cached.contains(t) {
            *cached = refresh.epoch_at(rank as usize, t);
        }
        *cached
    }

    /// The next command of `e` (queue entry `idx`, at this site) and the earliest cycle it may
    /// issue.
    #[inline(always)]
    fn plan(&mut self, e: &Entry, idx: usize, t: &CoreTiming, refresh: &RefreshSchedule) -> Plan {
        // Nothing issues before the command bus is free, so the bank's own history is never
        // later than `lo` and its epoch never ahead of lo's.
        let lo = e.visible.max(self.buses.next_cmd);
        let epoch = self.epoch_at(e.rank, lo, refresh);
        match self.plan_in(e, idx, lo, epoch, t) {
            Some(p) => p,
            None => self.plan_after_refresh(e, idx, epoch.next_start, t, refresh),
        }
    }

    /// [`Site::plan`] from cycle `lo` on when a refresh begins before the command could issue
    /// in `lo`'s epoch: plan again from the window's start, with the bank precharged, as often
    /// as needed. Rare, so kept out of line (a loop in `plan` would make it load every loop
    /// invariant up front).
    #[cold]
    #[inline(never)]
    fn plan_after_refresh(
        &mut self,
        e: &Entry,
        idx: usize,
        mut lo: u64,
        t: &CoreTiming,
        refresh: &RefreshSchedule,
    ) -> Plan {
        loop {
            let epoch = self.epoch_at(e.rank, lo, refresh);
            match self.plan_in(e, idx, lo, epoch, t) {
                Some(p) => {
                    return Plan {
                        refreshed: true,
                        ..p
                    };
                }
                None => lo = epoch.next_start,
            }
        }
    }

    /// The plan of `e` (queue entry `idx`) from cycle `lo` on, which falls in `epoch`; None if
    /// a refresh begins before the command could issue.
    #[inline(always)]
    fn plan_in(
        &self,
        e: &Entry,
        idx: usize,
        lo: u64,
        epoch: Epoch,
        t: &CoreTiming,
    ) -> Option<Plan> {
        let open = if epoch.index > self.bank.epoch {
            None
        } else {
            self.bank.open_row
        };
        let cmd = match open {
            Some(r) if r == e.row => Cmd::Col,
            Some(_) => Cmd::Pre,
            None => Cmd::Act,
        };
        self.plan_cmd(e, idx, cmd, lo, epoch, t)
    }

    /// The plan of request `e` (queue entry `idx`) right after its PRE or ACT `p` issued, for
    /// its next command `cmd` (ACT after a PRE, the column command after an ACT): what
    /// `plan(idx)` gives, or None when that takes the general way. `plan` computes `lo` and the epoch as here; if
    /// `lo` is still in `p`'s epoch, the bank's epoch is that one (`issue_common` set it), so
    /// `plan_in` finds the bank as `p` left it: precharged after a PRE (next: ACT), its row
    /// open after an ACT (next: the column command), and [`Site::plan_cmd`] is `plan_in` for
    /// that command. Otherwise (a refresh began in between, or begins before `cmd` could
    /// issue), None.
    #[inline(always)]
    fn plan_next(
        &mut self,
        e: &Entry,
        idx: usize,
        p: &Plan,
        cmd: Cmd,
        t: &CoreTiming,
        refresh: &RefreshSchedule,
    ) -> Option<Plan> {
        let lo = e.visible.max(self.buses.next_cmd);
        let epoch = self.epoch_at(e.rank, lo, refresh);
        if epoch.index != p.epoch {
            return None;
        }
        self.plan_cmd(e, idx, cmd, lo, epoch, t)
    }

    /// [`Site::plan_in`] once the command is known: the earliest cycle from `lo` on at which
    /// `cmd` of `e` meets its constraints, in `epoch`.
    #[inline(always)]
    fn plan_cmd(
        &self,
        e: &Entry,
        idx: usize,
        cmd: Cmd,
        lo: u64,
        epoch: Epoch,
        t: &CoreTiming,
    ) -> Option<Plan> {
        let ready = match cmd {
            Cmd::Col => self.col_ready(e, t),
            Cmd::Pre => self.bank.next_pre,
            Cmd::Act => self
                .bank
                .next_act
                .max(self.group.next_act)
                .max(self.rank.timing.act_ready()),
        };
        let at = lo.max(ready);
        if at >= epoch.next_start {
            return None;
        }
        // A command due inside the refresh window waits for its end (tRFC < tREFI, so that is
        // still in this epoch).
        let at = at.max(epoch.open_from);
        let col_bound = match cmd {
            Cmd::Col => at,
            Cmd::Act => at + t.rcd,
            Cmd::Pre => (at + t.rp).min(epoch.next_start) + t.rcd,
        };
        Some(Plan {
            at,
            col_bound,
            epoch: epoch.index,
            idx,
            cmd,
            refreshed: false,
        })
    }

    /// The column-command constraints of `e` on its open bank.
    #[inline(always)]
    fn col_ready(&self, e: &Entry, t: &CoreTiming) -> u64 {
        let c = self.bank.next_col.max(self.buses.next_col);
        if e.write {
            c.max(self.group.next_wr)
                .max(self.buses.data_free.saturating_sub(t.cwl))
        } else {
            c.max(self.group.next_rd)
                .max(self.rank.timing.next_rd)
                .max(self.buses.data_free.saturating_sub(t.cl))
        }
    }

    /// What every command does: the bank's row closes if a refresh came since its last
    /// command, and the command bus is busy for a tCK.
    #[inline(always)]
    fn issue_common(&mut self, e: &Entry, p: &Plan, t: &CoreTiming, refresh: &RefreshSchedule) {
        #[cfg(test)]
        self.log.push((p.at, p.cmd, e.id));
        debug_assert_eq!(p.epoch, refresh.epoch(e.rank as usize, p.at));
        let bank = &mut *self.bank;
        let k = p.epoch;
        debug_assert!(k >= bank.epoch, "commands issue in time order");
        if k > bank.epoch {
            bank.open_row = None;
            bank.epoch = k;
        }
        self.buses.next_cmd = p.at + t.cmd;
    }

    /// Issue PRE `p` of `e`.
    #[inline(always)]
    fn issue_pre(
        &mut self,
        e: &mut Entry,
        p: &Plan,
        t: &CoreTiming,
        refresh: &RefreshSchedule,
        stats: &mut DramStats,
    ) {
        self.issue_common(e, p, t, refresh);
        let bank = &mut *self.bank;
        debug_assert!(bank.open_row.is_some_and(|r| r != e.row));
        bank.open_row = None;
        bank.next_act = bank.next_act.max(p.at + t.rp);
        e.outcome = RowOutcome::Conflict;
        stats.precharges += 1;
    }

    /// Issue ACT `p` of `e`.
    #[inline(always)]
    fn issue_act(
        &mut self,
        e: &mut Entry,
        p: &Plan,
        t: &CoreTiming,
        refresh: &RefreshSchedule,
        stats: &mut DramStats,
    ) {
        self.issue_common(e, p, t, refresh);
        let (at, bank) = (p.at, &mut *self.bank);
        debug_assert!(bank.open_row.is_none());
        bank.open_row = Some(e.row);
        bank.next_col = at + t.rcd;
        bank.next_pre = bank.next_pre.max(at + t.ras);
        self.group.next_act = at + t.rrd_l;
        self.rank.timing.activate(at, t.rrd_s, t.faw);
        if e.outcome == RowOutcome::Hit {
            e.outcome = RowOutcome::Closed;
        }
        stats.activates += 1;
    }

    /// Issue column command `p` of `e`: returns its completion (the caller schedules it and
    /// takes the request out of the queue).
    #[inline(always)]
    fn issue_col(
        &mut self,
        e: &Entry,
        p: &Plan,
        t: &CoreTiming,
        refresh: &RefreshSchedule,
        stats: &mut DramStats,
    ) -> DramCompletion {
        self.issue_common(e, p, t, refresh);
        let (at, bank, g) = (p.at, &mut *self.bank, &mut *self.group);
        debug_assert_eq!(bank.open_row, Some(e.row));
        g.next_rd = g.next_rd.max(at + t.ccd_l);
        g.next_wr = g.next_wr.max(at + t.ccd_l);
        self.buses.next_col = at + t.ccd_s;
        let done = if e.write {
            let done = at + t.cwl + t.burst;
            bank.next_pre = bank.next_pre.max(done + t.wr);
            g.next_rd = g.next_rd.max(done + t.wtr_l);
            let rk = &mut self.rank.timing;
            rk.next_rd = rk.next_rd.max(done + t.wtr_s);
            stats.writes += 1;
            stats.total_write_latency += done - e.arrival;
            done
        } else {
            let done = at + t.cl + t.burst;
            bank.next_pre = bank.next_pre.max(at + t.rtp);
            stats.reads += 1;
            stats.total_read_latency += done - e.arrival;
            done
        };
        debug_assert!(done - t.burst >= self.buses.data_free, "bursts overlap");
        self.buses.data_free = done;
        stats.bus_busy_cycles += t.burst;
        match e.outcome {
            RowOutcome::Hit => stats.row_hits += 1,
            RowOutcome::Closed => stats.row_misses += 1,
            RowOutcome::Conflict => stats.row_conflicts += 1,
        }
        DramCompletion {
            id: e.id,
            addr: e.addr,
            write: e.write,
            row: e.outcome,
            arrival: Cycle(e.arrival),
            done: Cycle(done),
        }
    }
}
