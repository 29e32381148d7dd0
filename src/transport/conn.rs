//! Connection admission shared by both transports: a cap on open connections in total and per
//! peer (an IPv4 address, or an IPv6 /64, the block one subscriber usually holds).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The transport's total connection cap is reached.
    Total,
    /// This peer already holds its share of connections.
    PerPeer,
}

impl Refusal {
    pub fn label(self) -> &'static str {
        match self {
            Refusal::Total => "total",
            Refusal::PerPeer => "per_peer",
        }
    }
}

/// The key connections are counted under: the IPv4 address (IPv4-mapped IPv6 included), or the
/// /64 prefix of an IPv6 address.
pub fn peer_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_peer: HashMap<IpAddr, usize>,
}

/// Counts open connections; [`ConnLimiter::admit`] hands out a guard that gives the slot back
/// when dropped. The per-peer table holds one entry per peer with an open connection, so it is
/// bounded by the total cap.
pub struct ConnLimiter {
    max_total: usize,
    /// 0: no per-peer cap.
    max_per_peer: usize,
    counts: Mutex<Counts>,
}

impl ConnLimiter {
    pub fn new(max_total: usize, max_per_peer: usize) -> Arc<ConnLimiter> {
        Arc::new(ConnLimiter {
            max_total,
            max_per_peer,
            counts: Mutex::new(Counts::default()),
        })
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a slot for a connection from `ip`, or says why not.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnGuard, Refusal> {
        let key = peer_key(ip);
        let mut c = self.counts();
        if c.total >= self.max_total {
            return Err(Refusal::Total);
        }
        let n = c.per_peer.get(&key).copied().unwrap_or(0);
        if self.max_per_peer > 0 && n >= self.max_per_peer {
            return Err(Refusal::PerPeer);
        }
        c.total = c.total.saturating_add(1);
        c.per_peer.insert(key, n.saturating_add(1));
        Ok(ConnGuard {
            limiter: self.clone(),
            key,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.counts().total
    }
}

/// One admitted connection's slot.
pub struct ConnGuard {
    limiter: Arc<ConnLimiter>,
    key: IpAddr,
}

impl std::fmt::Debug for ConnGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnGuard")
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut c = self.limiter.counts();
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_peer.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.per_peer.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_total_and_per_peer_and_gives_slots_back() {
        let l = ConnLimiter::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let g1 = l.admit(a).unwrap();
        let _g2 = l.admit(a).unwrap();
        assert_eq!(l.admit(a).unwrap_err(), Refusal::PerPeer);
        let _g3 = l.admit(b).unwrap();
        assert_eq!(l.admit(b).unwrap_err(), Refusal::Total);
        drop(g1);
        assert_eq!(l.open(), 2);
        let _g4 = l.admit(a).unwrap();
        assert_eq!(l.counts().per_peer.len(), 2);
    }

    #[test]
    fn ipv6_counts_by_64_and_mapped_v4_as_v4() {
        let x: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let y: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(peer_key(x), peer_key(y));
        let m: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(peer_key(m), "10.0.0.1".parse::<IpAddr>().unwrap());
        let l = ConnLimiter::new(10, 1);
        let _g = l.admit(x).unwrap();
        assert_eq!(l.admit(y).unwrap_err(), Refusal::PerPeer);
    }
}
