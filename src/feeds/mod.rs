//! Payload formats the tools understand, and the sequence tracking they share.

pub mod arbiter;
pub mod deribit;
pub mod pcap;
pub mod seq;
pub mod sequenced;
pub mod starbase;
pub mod testhdr;

/// UDP payload sizes of the Deribit capture `sample_capture_v1_6.pcapng`
/// (5,066 datagrams): (size, weight in 1/10,000). Median 153, p99 1,330.
pub const DERIBIT_SIZES: &[(usize, u32)] = &[
    (20, 118),
    (24, 118),
    (52, 924),
    (75, 711),
    (153, 6557),
    (220, 697),
    (238, 20),
    (327, 444),
    (345, 73),
    (428, 77),
    (529, 22),
    (1330, 150),
    (1388, 50),
    (1456, 39),
];

/// Draw a size from [`DERIBIT_SIZES`] given a uniform `u` in [0, 1).
pub fn deribit_size(u: f64) -> usize {
    let mut at = (u * 10_000.0) as u32;
    for &(size, w) in DERIBIT_SIZES {
        if at < w {
            return size;
        }
        at -= w;
    }
    DERIBIT_SIZES[DERIBIT_SIZES.len() - 1].0
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_mix_has_the_capture_s_shape() {
        assert_eq!(
            super::DERIBIT_SIZES.iter().map(|x| x.1).sum::<u32>(),
            10_000
        );
        let mut v: Vec<usize> = (0..10_000)
            .map(|i| super::deribit_size(i as f64 / 10_000.0))
            .collect();
        v.sort();
        assert_eq!(v[5_000], 153);
        assert_eq!(v[9_900], 1330);
        assert_eq!(v[0], 20);
    }
}
