//! `--merge`: how an egress feed merges its senders.

use crate::feeds::sequenced::Sequencing;

/// How an egress feed merges its senders.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum MergeFormat {
    /// One sender at a time; a new one takes over (no merge).
    #[default]
    None,
    /// Deribit legacy: channelId and the u32 sequenceNumber.
    Deribit,
    /// Deribit Starbase: channelId, seqNum and messageCount.
    Starbase,
    /// The test header of `mcast-relay publish`.
    Testhdr,
    /// By content, for feeds without sequence numbers (a bounded window).
    Hash,
}

impl MergeFormat {
    pub(super) fn sequencing(self) -> Option<Sequencing> {
        match self {
            MergeFormat::Deribit => Some(Sequencing::Deribit),
            MergeFormat::Starbase => Some(Sequencing::Starbase),
            MergeFormat::Testhdr => Some(Sequencing::TestHdr),
            MergeFormat::None | MergeFormat::Hash => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            MergeFormat::None => "none",
            MergeFormat::Deribit => "deribit",
            MergeFormat::Starbase => "starbase",
            MergeFormat::Testhdr => "testhdr",
            MergeFormat::Hash => "hash",
        }
    }
}
