//! Read UDP datagrams out of pcap and pcapng captures (Ethernet, Linux cooked
//! v1/v2, raw IP, BSD loopback), skipping and counting everything else.

use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;

use pcap_parser::pcapng::Block;
use pcap_parser::{Linktype, PcapBlockOwned, PcapError, create_reader};

/// One UDP datagram from a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// Capture time, ns since the epoch.
    pub ts_ns: u64,
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
pub struct Capture {
    pub datagrams: Vec<Captured>,
    /// Frames that were not whole IPv4 UDP datagrams (other protocols, fragments, cut).
    pub skipped: u64,
}

struct Iface {
    linktype: Linktype,
    resolution: u64,
    offset: i64,
}

/// Read every IPv4 UDP datagram of a pcap or pcapng file, in file order.
pub fn read(path: &Path) -> io::Result<Capture> {
    let file = File::open(path)?;
    let bad = |e: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    };
    let mut reader = create_reader(1 << 20, file)
        .map_err(|e| bad(format!("not a pcap or pcapng file ({e:?})")))?;
    let mut cap = Capture::default();
    let mut ifaces: Vec<Iface> = Vec::new();
    let mut legacy = Iface {
        linktype: Linktype::ETHERNET,
        resolution: 1_000_000,
        offset: 0,
    };
    loop {
        match reader.next() {
            Ok((used, block)) => {
                let frame = match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        legacy.linktype = h.network;
                        legacy.resolution = if h.is_nanosecond_precision() {
                            1_000_000_000
                        } else {
                            1_000_000
                        };
                        None
                    }
                    PcapBlockOwned::Legacy(b) => {
                        let ns = b.ts_sec as u64 * 1_000_000_000
                            + b.ts_usec as u64 * (1_000_000_000 / legacy.resolution);
                        Some((legacy.linktype, ns, b.data, b.caplen < b.origlen))
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                        ifaces.clear();
                        None
                    }
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        ifaces.push(Iface {
                            linktype: idb.linktype,
                            resolution: idb.ts_resolution().unwrap_or(1_000_000),
                            offset: idb.ts_offset(),
                        });
                        None
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        match ifaces.get(epb.if_id as usize) {
                            Some(i) => {
                                let (s, frac) = epb.decode_ts(i.offset.max(0) as u64, i.resolution);
                                let ns = s as u64 * 1_000_000_000
                                    + frac as u64 * 1_000_000_000 / i.resolution;
                                Some((i.linktype, ns, epb.data, epb.caplen < epb.origlen))
                            }
                            None => {
                                cap.skipped += 1;
                                None
                            }
                        }
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(_)) => {
                        cap.skipped += 1;
                        None
                    }
                    PcapBlockOwned::NG(_) => None,
                };
                if let Some((lt, ts_ns, data, cut)) = frame {
                    match (!cut).then(|| udp(lt, data)).flatten() {
                        Some((src, dst, payload)) => cap.datagrams.push(Captured {
                            ts_ns,
                            src,
                            dst,
                            payload: payload.to_vec(),
                        }),
                        None => cap.skipped += 1,
                    }
                }
                reader.consume(used);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                reader.refill().map_err(|e| bad(format!("{e:?}")))?;
            }
            Err(e) => return Err(bad(format!("{e:?}"))),
        }
    }
    Ok(cap)
}

/// The UDP datagram inside a link-layer frame, if it is one, whole.
pub fn udp(lt: Linktype, data: &[u8]) -> Option<(SocketAddrV4, SocketAddrV4, &[u8])> {
    let ip = match lt {
        Linktype::ETHERNET => {
            let mut off = 12;
            let mut ethertype = u16::from_be_bytes(data.get(off..off + 2)?.try_into().ok()?);
            while ethertype == 0x8100 || ethertype == 0x88a8 {
                off += 4;
                ethertype = u16::from_be_bytes(data.get(off..off + 2)?.try_into().ok()?);
            }
            (ethertype == 0x0800).then_some(())?;
            data.get(off + 2..)?
        }
        Linktype::LINUX_SLL => {
            (u16::from_be_bytes(data.get(14..16)?.try_into().ok()?) == 0x0800).then_some(())?;
            data.get(16..)?
        }
        Linktype::LINUX_SLL2 => {
            (u16::from_be_bytes(data.get(0..2)?.try_into().ok()?) == 0x0800).then_some(())?;
            data.get(20..)?
        }
        Linktype::RAW | Linktype::IPV4 => data,
        Linktype::NULL | Linktype::LOOP => data.get(4..)?,
        _ => return None,
    };
    if ip.first()? >> 4 != 4 || *ip.get(9)? != 17 {
        return None;
    }
    let ihl = ((ip[0] & 0x0f) as usize) * 4;
    let total = u16::from_be_bytes(ip.get(2..4)?.try_into().ok()?) as usize;
    let frag = u16::from_be_bytes(ip.get(6..8)?.try_into().ok()?);
    if frag & 0x3fff != 0 || ihl < 20 || total > ip.len() || total < ihl + 8 {
        return None;
    }
    let src_ip = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst_ip = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let udp = &ip[ihl..total];
    let sport = u16::from_be_bytes([udp[0], udp[1]]);
    let dport = u16::from_be_bytes([udp[2], udp[3]]);
    let ulen = u16::from_be_bytes([udp[4], udp[5]]) as usize;
    if ulen < 8 || ulen > udp.len() {
        return None;
    }
    Some((
        SocketAddrV4::new(src_ip, sport),
        SocketAddrV4::new(dst_ip, dport),
        &udp[8..ulen],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth_udp(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        let total = (20 + 8 + payload.len()) as u16;
        f.extend_from_slice(&[
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0x40,
            0,
            1,
            17,
            0,
            0,
        ]);
        f.extend_from_slice(&[10, 0, 0, 1, 239, 1, 2, 3]);
        let ulen = (8 + payload.len()) as u16;
        f.extend_from_slice(&[0x13, 0x88, 0x17, 0xd4, (ulen >> 8) as u8, ulen as u8, 0, 0]);
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn finds_udp_in_ethernet_and_skips_the_rest() {
        let f = eth_udp(b"hello");
        let (s, d, p) = udp(Linktype::ETHERNET, &f).unwrap();
        assert_eq!(s, "10.0.0.1:5000".parse().unwrap());
        assert_eq!(d, "239.1.2.3:6100".parse().unwrap());
        assert_eq!(p, b"hello");
        assert!(
            udp(Linktype::ETHERNET, &f[..f.len() - 1]).is_none(),
            "cut frames are skipped"
        );
        let mut frag = f.clone();
        frag[20] = 0x20; // more fragments
        assert!(udp(Linktype::ETHERNET, &frag).is_none());
        assert!(udp(Linktype::RAW, &f[14..]).is_some());
    }
}
