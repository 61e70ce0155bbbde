//! Physical address -> (channel, rank, bank group, bank, row, column).
//!
//! The low 6 bits are always the byte offset within a 64-byte line (one BL8 burst). The fields
//! above them are named from the most to the least significant bit, Ramulator style; every
//! field is `log2(count)` bits wide (counts are validated powers of two) and the column field
//! counts lines (`columns / 8` of them per row). Address bits above the modelled capacity are
//! ignored, so larger addresses alias onto the modelled rows.
//!
//! Layouts with the default geometry (1 channel, 1 rank, 4 bank groups x 4 banks, 65536 rows,
//! 1024 columns = 128 lines = 8 KiB per row), least significant bit first:
//!
//! | mapping | bits |
//! | --- | --- |
//! | `page-interleaved` (default) | offset 0-5, channel (0 bits), column-low 6-11, bank group 12-13, bank 14-15, rank (0 bits), column-high 16, row 17-32 |
//! | `row-rank-bank-column-channel` | offset 0-5, channel, column 6-12, bank group 13-14, bank 15-16, rank, row 17-32 |
//! | `row-column-rank-bank-channel` | offset 0-5, channel, bank group 6-7, bank 8-9, rank, column 10-16, row 17-32 |
//! | `channel-rank-bank-row-column` | offset 0-5, column 6-12, row 13-28, bank group 29-30, bank 31-32, rank, channel |
//!
//! `page-interleaved`: consecutive lines alternate across channels; the lines of one 4 KiB page
//! that land in a channel share one row of one bank (column-low takes the page-offset bits left
//! above the channel bits: `6 - log2(channels)`, at most the whole column); consecutive pages
//! go to consecutive bank groups, then banks, then ranks, so a stream of pages keeps every bank
//! busy, and only then to the next part of the row (column-high) and the next row. With 2
//! channels: channel = bit 6, column-low = bits 7-11, bank group 12-13, bank 14-15, column-high
//! 16-17, row 18-33.

use super::config::{COLUMNS_PER_LINE, DramConfig};
use crate::{LINE_SHIFT, PAGE_SHIFT, PhysAddr};
use serde::{Deserialize, Serialize};

/// How physical address bits are split into DRAM coordinates; names list the fields from the
/// most significant bit down (the line offset is always the lowest 6 bits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AddressMapping {
    /// row | column-high | rank | bank | bank group | column-low | channel | offset: lines
    /// interleave across channels, a page stays in one row per channel, pages spread over banks.
    #[default]
    PageInterleaved,
    /// row | rank | bank | bank group | column | channel | offset: a whole row of a bank before
    /// the next bank (Ramulator `RoRaBaCoCh`).
    RowRankBankColumnChannel,
    /// row | column | rank | bank | bank group | channel | offset: consecutive lines go to
    /// different banks (most bank parallelism, least row locality).
    RowColumnRankBankChannel,
    /// channel | rank | bank | bank group | row | column | offset: linear, each bank holds one
    /// contiguous region.
    ChannelRankBankRowColumn,
}

/// Where an address lives in DRAM.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DramCoord {
    pub channel: u32,
    pub rank: u32,
    pub bank_group: u32,
    /// Bank within its bank group.
    pub bank: u32,
    pub row: u32,
    /// First bus-width column of the line (a multiple of 8).
    pub column: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Channel,
    Rank,
    BankGroup,
    Bank,
    Row,
    ColumnLow,
    ColumnHigh,
}

/// A contiguous bit field of the address.
#[derive(Clone, Copy, Debug, Default)]
struct Bits {
    shift: u32,
    mask: u64,
}

impl Bits {
    #[inline]
    fn get(self, a: u64) -> u32 {
        (a.wrapping_shr(self.shift) & self.mask) as u32
    }
}

/// The precomputed shifts and masks of one mapping and geometry.
#[derive(Clone, Debug)]
pub(super) struct AddressDecoder {
    channel: Bits,
    rank: Bits,
    bank_group: Bits,
    bank: Bits,
    row: Bits,
    col_low: Bits,
    col_high: Bits,
    col_low_bits: u32,
}

impl AddressDecoder {
    /// Build the decoder for a validated config.
    pub(super) fn new(cfg: &DramConfig) -> AddressDecoder {
        let log = |n: u32| n.trailing_zeros();
        let ch = log(cfg.channels);
        let col = log(cfg.columns / COLUMNS_PER_LINE);
        let (rk, bg, bk, row) = (
            log(cfg.ranks),
            log(cfg.bank_groups),
            log(cfg.banks_per_group),
            log(cfg.rows),
        );
        use Field::*;
        // Fields from the least significant bit up, above the line offset.
        let layout: Vec<(Field, u32)> = match cfg.mapping {
            AddressMapping::PageInterleaved => {
                let page_lines = PAGE_SHIFT - LINE_SHIFT;
                let low = page_lines.saturating_sub(ch).min(col);
                vec![
                    (Channel, ch),
                    (ColumnLow, low),
                    (BankGroup, bg),
                    (Bank, bk),
                    (Rank, rk),
                    (ColumnHigh, col - low),
                    (Row, row),
                ]
            }
            AddressMapping::RowRankBankColumnChannel => vec![
                (Channel, ch),
                (ColumnLow, col),
                (BankGroup, bg),
                (Bank, bk),
                (Rank, rk),
                (Row, row),
            ],
            AddressMapping::RowColumnRankBankChannel => vec![
                (Channel, ch),
                (BankGroup, bg),
                (Bank, bk),
                (Rank, rk),
                (ColumnLow, col),
                (Row, row),
            ],
            AddressMapping::ChannelRankBankRowColumn => vec![
                (ColumnLow, col),
                (Row, row),
                (BankGroup, bg),
                (Bank, bk),
                (Rank, rk),
                (Channel, ch),
            ],
        };
        let mut d = AddressDecoder {
            channel: Bits::default(),
            rank: Bits::default(),
            bank_group: Bits::default(),
            bank: Bits::default(),
            row: Bits::default(),
            col_low: Bits::default(),
            col_high: Bits::default(),
            col_low_bits: 0,
        };
        let mut shift = LINE_SHIFT;
        for (field, bits) in layout {
            let b = Bits {
                shift,
                mask: if bits >= 64 {
                    u64::MAX
                } else {
                    (1u64 << bits) - 1
                },
            };
            shift += bits;
            match field {
                Channel => d.channel = b,
                Rank => d.rank = b,
                BankGroup => d.bank_group = b,
                Bank => d.bank = b,
                Row => d.row = b,
                ColumnLow => {
                    d.col_low = b;
                    d.col_low_bits = bits;
                }
                ColumnHigh => d.col_high = b,
            }
        }
        d
    }

    /// The channel of `addr`.
    #[inline]
    pub(super) fn channel(&self, addr: PhysAddr) -> u32 {
        self.channel.get(addr.0)
    }

    /// The full coordinates of `addr`.
    #[inline]
    pub(super) fn decode(&self, addr: PhysAddr) -> DramCoord {
        let a = addr.0;
        let line = self.col_low.get(a) | (self.col_high.get(a) << self.col_low_bits);
        DramCoord {
            channel: self.channel.get(a),
            rank: self.rank.get(a),
            bank_group: self.bank_group.get(a),
            bank: self.bank.get(a),
            row: self.row.get(a),
            column: line * COLUMNS_PER_LINE,
        }
    }
}
