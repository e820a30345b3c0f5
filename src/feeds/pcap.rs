//! Read UDP datagrams out of pcap and pcapng captures (Ethernet, Linux cooked
//! v1/v2, raw IP, BSD loopback), skipping and counting everything else.

use std::collections::BTreeMap;
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
    /// The same, by reason ([`Skip::as_str`]).
    pub skipped_by: BTreeMap<&'static str, u64>,
}

impl Capture {
    fn skip(&mut self, why: Skip) {
        self.skipped += 1;
        *self.skipped_by.entry(why.as_str()).or_default() += 1;
    }
}

/// Why a frame of a capture is not replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Not IPv4 (IPv6, ARP, LLDP...).
    NotIpv4,
    /// IPv4 but not UDP (TCP, ICMP, IGMP...).
    NotUdp,
    /// A fragment of a larger datagram (multicast is never reassembled here).
    Fragment,
    /// Cut by the capture's snap length.
    Truncated,
    /// Headers that contradict themselves.
    Malformed,
    /// A link type this reader does not know.
    LinkType,
    /// A pcapng packet without a usable interface (or a simple packet block).
    NoInterface,
}

impl Skip {
    pub fn as_str(&self) -> &'static str {
        match self {
            Skip::NotIpv4 => "not_ipv4",
            Skip::NotUdp => "not_udp",
            Skip::Fragment => "ip_fragment",
            Skip::Truncated => "truncated",
            Skip::Malformed => "malformed",
            Skip::LinkType => "unknown_link_type",
            Skip::NoInterface => "no_interface",
        }
    }
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
                                cap.skip(Skip::NoInterface);
                                None
                            }
                        }
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(_)) => {
                        cap.skip(Skip::NoInterface);
                        None
                    }
                    PcapBlockOwned::NG(_) => None,
                };
                if let Some((lt, ts_ns, data, cut)) = frame {
                    match classify(lt, data) {
                        // A frame cut after the UDP datagram (trailer, FCS) is still whole.
                        Ok((src, dst, payload)) => cap.datagrams.push(Captured {
                            ts_ns,
                            src,
                            dst,
                            payload: payload.to_vec(),
                        }),
                        Err(Skip::Malformed) if cut => cap.skip(Skip::Truncated),
                        Err(why) => cap.skip(why),
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
    classify(lt, data).ok()
}

type Udp<'a> = (SocketAddrV4, SocketAddrV4, &'a [u8]);

fn be16(data: &[u8], at: usize) -> Result<u16, Skip> {
    data.get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or(Skip::Malformed)
}

/// The UDP datagram inside a link-layer frame, or why there is none.
pub fn classify(lt: Linktype, data: &[u8]) -> Result<Udp<'_>, Skip> {
    let ipv4 = |ethertype: u16| {
        if ethertype == 0x0800 {
            Ok(())
        } else {
            Err(Skip::NotIpv4)
        }
    };
    let ip = match lt {
        Linktype::ETHERNET => {
            let mut off = 12;
            let mut ethertype = be16(data, off)?;
            while ethertype == 0x8100 || ethertype == 0x88a8 {
                off += 4;
                ethertype = be16(data, off)?;
            }
            ipv4(ethertype)?;
            &data[off + 2..]
        }
        Linktype::LINUX_SLL => {
            ipv4(be16(data, 14)?)?;
            &data[16..]
        }
        Linktype::LINUX_SLL2 => {
            ipv4(be16(data, 0)?)?;
            data.get(20..).ok_or(Skip::Malformed)?
        }
        Linktype::RAW | Linktype::IPV4 => data,
        Linktype::NULL | Linktype::LOOP => data.get(4..).ok_or(Skip::Malformed)?,
        _ => return Err(Skip::LinkType),
    };
    if ip.first().ok_or(Skip::Malformed)? >> 4 != 4 {
        return Err(Skip::NotIpv4);
    }
    if ip.len() < 20 {
        return Err(Skip::Malformed);
    }
    if ip[9] != 17 {
        return Err(Skip::NotUdp);
    }
    let ihl = ((ip[0] & 0x0f) as usize) * 4;
    let total = be16(ip, 2)? as usize;
    if be16(ip, 6)? & 0x3fff != 0 {
        return Err(Skip::Fragment);
    }
    if ihl < 20 || total < ihl + 8 || total > ip.len() {
        return Err(Skip::Malformed);
    }
    let src_ip = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst_ip = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let udp = &ip[ihl..total];
    let sport = u16::from_be_bytes([udp[0], udp[1]]);
    let dport = u16::from_be_bytes([udp[2], udp[3]]);
    let ulen = u16::from_be_bytes([udp[4], udp[5]]) as usize;
    if ulen < 8 || ulen > udp.len() {
        return Err(Skip::Malformed);
    }
    Ok((
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

    #[test]
    fn says_why_a_frame_is_skipped() {
        let f = eth_udp(b"hello");
        let why = |lt, d: &[u8]| classify(lt, d).err();
        let mut v6 = f.clone();
        v6[12..14].copy_from_slice(&[0x86, 0xdd]);
        assert_eq!(why(Linktype::ETHERNET, &v6), Some(Skip::NotIpv4));
        let mut tcp = f.clone();
        tcp[14 + 9] = 6;
        assert_eq!(why(Linktype::ETHERNET, &tcp), Some(Skip::NotUdp));
        let mut frag = f.clone();
        frag[14 + 7] = 1; // fragment offset 8
        assert_eq!(why(Linktype::ETHERNET, &frag), Some(Skip::Fragment));
        assert_eq!(
            why(Linktype::ETHERNET, &f[..f.len() - 1]),
            Some(Skip::Malformed),
            "shorter than its IP length"
        );
        assert_eq!(why(Linktype(147), &f), Some(Skip::LinkType));
        let mut raw6 = f[14..].to_vec();
        raw6[0] = 0x60;
        assert_eq!(why(Linktype::RAW, &raw6), Some(Skip::NotIpv4));
    }
}
