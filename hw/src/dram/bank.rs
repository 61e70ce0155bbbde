//! The timing state of banks, bank groups, ranks and a channel's buses.
//!
//! Every field is the earliest core cycle at which a command of some kind may issue, so a
//! constraint is one `max` and a command is a handful of stores. All start at 0 (no history).

/// One bank: its row buffer and its own timing.
#[derive(Clone, Debug, Default)]
pub(super) struct Bank {
    /// The open row, if any, as of the bank's last command (see `epoch`).
    pub(super) open_row: Option<u32>,
    /// The rank's refresh epoch at this bank's last command; if the rank has been refreshed
    /// since, the row is closed whatever `open_row` says.
    pub(super) epoch: u64,
    /// ACT: tRP after PRE (tRC follows from tRAS + tRP).
    pub(super) next_act: u64,
    /// PRE: tRAS after ACT, tRTP after RD, tWR after the end of write data.
    pub(super) next_pre: u64,
    /// RD/WR: tRCD after ACT.
    pub(super) next_col: u64,
}

/// One bank group of a rank: the "long" constraints between its banks.
#[derive(Clone, Debug, Default)]
pub(super) struct BankGroup {
    /// ACT: tRRD_L after an ACT in the group.
    pub(super) next_act: u64,
    /// RD: tCCD_L after a column command in the group, tWTR_L after its write data.
    pub(super) next_rd: u64,
    /// WR: tCCD_L after a column command in the group.
    pub(super) next_wr: u64,
}

/// One rank: the "short" constraints between its bank groups and the four-activate window.
#[derive(Clone, Debug, Default)]
pub(super) struct Rank {
    /// ACT: tRRD_S after any ACT in the rank.
    pub(super) next_act: u64,
    /// RD: tWTR_S after the end of any write data in the rank.
    pub(super) next_rd: u64,
    /// tFAW: for each of the last four ACTs, the cycle at which it leaves the window; a new
    /// ACT waits for the oldest.
    pub(super) faw: [u64; 4],
    /// Index of the oldest entry of `faw` (always < 4; masked where used so that indexing
    /// needs no bounds check).
    pub(super) faw_oldest: usize,
}

impl Rank {
    /// ACT constraint from tRRD_S and tFAW.
    #[inline]
    pub(super) fn act_ready(&self) -> u64 {
        self.next_act.max(self.faw[self.faw_oldest & 3])
    }

    /// Record an ACT at `t`.
    #[inline]
    pub(super) fn activate(&mut self, t: u64, rrd_s: u64, faw: u64) {
        self.next_act = t + rrd_s;
        self.faw[self.faw_oldest & 3] = t + faw;
        self.faw_oldest = (self.faw_oldest + 1) & 3;
    }
}

/// A channel's command and data buses.
#[derive(Clone, Debug, Default)]
pub(super) struct Buses {
    /// Command bus: one command per tCK.
    pub(super) next_cmd: u64,
    /// Column commands: tCCD_S after any column command on the channel.
    pub(super) next_col: u64,
    /// Data bus: the end of the last burst; bursts never overlap.
    pub(super) data_free: u64,
}
