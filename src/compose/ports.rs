//! `ports:` entries, short (`"[IP:][HOST:]CONTAINER[/proto]"`, ranges) and long syntax,
//! normalised to what `docker compose config` prints: one entry per container port.

use super::yaml::Node;

/// One published (or only exposed) container port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Port {
    pub target: u32,
    /// The host port (or range) as compose prints it; `None` lets the engine pick one.
    pub published: Option<String>,
    pub host_ip: Option<String>,
    pub protocol: String,
    pub mode: String,
}

impl Port {
    /// The single host port this entry publishes, if it publishes exactly one.
    pub fn published_port(&self) -> Option<u16> {
        self.published.as_deref()?.parse().ok()
    }
}

fn range(s: &str) -> Option<(u32, u32)> {
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
        None => {
            let p = s.parse().ok()?;
            (p, p)
        }
    };
    (a <= b && b <= 65535).then_some((a, b))
}

/// Parse the short syntax. `Err` says what is wrong with it.
pub fn parse_short(spec: &str) -> Result<Vec<Port>, String> {
    let bad = || format!("`{spec}` is not a port mapping compose understands");
    let (rest, protocol) = match spec.rsplit_once('/') {
        Some((r, p)) if !p.is_empty() => (r, p.to_ascii_lowercase()),
        Some(_) => return Err(bad()),
        None => (spec, "tcp".to_string()),
    };
    // An IPv6 host address is written in brackets: `[::1]:3001:3000`.
    let (ip, rest) = if let Some(r) = rest.strip_prefix('[') {
        let (ip, after) = r.split_once(']').ok_or_else(bad)?;
        let after = after.strip_prefix(':').ok_or_else(bad)?;
        (Some(ip.to_string()), after)
    } else {
        (None, rest)
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, container) = match (ip, parts.as_slice()) {
        (None, [c]) => (None, "", *c),
        (None, [h, c]) => (None, *h, *c),
        (None, [ip, h, c]) => (Some(ip.to_string()), *h, *c),
        (Some(ip), [h, c]) => (Some(ip), *h, *c),
        _ => return Err(bad()),
    };
    let (c0, c1) = range(container).ok_or_else(bad)?;
    let host_ip = ip.filter(|s| !s.is_empty());
    let mut out = Vec::new();
    if host.is_empty() {
        for t in c0..=c1 {
            out.push(port(t, None, host_ip.clone(), &protocol));
        }
        return Ok(out);
    }
    let (h0, h1) = range(host).ok_or_else(bad)?;
    if c0 == c1 {
        let published = if h0 == h1 {
            h0.to_string()
        } else {
            format!("{h0}-{h1}")
        };
        out.push(port(c0, Some(published), host_ip, &protocol));
    } else if h1 - h0 == c1 - c0 {
        for (i, t) in (c0..=c1).enumerate() {
            out.push(port(
                t,
                Some((h0 + i as u32).to_string()),
                host_ip.clone(),
                &protocol,
            ));
        }
    } else {
        return Err(format!(
            "`{spec}`: the host range and the container range differ in size"
        ));
    }
    Ok(out)
}

fn port(target: u32, published: Option<String>, host_ip: Option<String>, protocol: &str) -> Port {
    Port {
        target,
        published,
        host_ip,
        protocol: protocol.to_string(),
        mode: "ingress".into(),
    }
}

/// Parse one entry of a `ports:` sequence (already interpolated).
pub fn parse_entry(node: &Node) -> Result<Vec<Port>, String> {
    if let Some(s) = node.as_str() {
        return parse_short(s);
    }
    let Some(map) = node.as_map() else {
        return Err(format!("a ports entry is {}", node.kind_name()));
    };
    let field = |k: &str| node.get(k).and_then(Node::as_str);
    for (k, _) in map {
        let k = k.as_str().unwrap_or("");
        if !matches!(
            k,
            "target" | "published" | "host_ip" | "protocol" | "mode" | "name" | "app_protocol"
        ) {
            return Err(format!("ports: unknown key `{k}` in the long syntax"));
        }
    }
    let target: u32 = field("target")
        .and_then(|t| t.parse().ok())
        .ok_or("ports: the long syntax needs a numeric `target`")?;
    Ok(vec![Port {
        target,
        published: field("published")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        host_ip: field("host_ip")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        protocol: field("protocol").unwrap_or("tcp").to_ascii_lowercase(),
        mode: field("mode").unwrap_or("ingress").to_string(),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> (u32, Option<String>, Option<String>, String) {
        let p = parse_short(s).unwrap();
        assert_eq!(p.len(), 1, "{s}");
        let p = p.into_iter().next().unwrap();
        (p.target, p.published, p.host_ip, p.protocol)
    }

    #[test]
    fn short_syntax_forms() {
        let s = |x: &str| Some(x.to_string());
        assert_eq!(one("3000"), (3000, None, None, "tcp".into()));
        assert_eq!(one("3200:3000"), (3000, s("3200"), None, "tcp".into()));
        assert_eq!(
            one("127.0.0.1:5434:5432"),
            (5432, s("5434"), s("127.0.0.1"), "tcp".into())
        );
        assert_eq!(
            one("127.0.0.1::5432"),
            (5432, None, s("127.0.0.1"), "tcp".into())
        );
        assert_eq!(
            one("[::1]:3001:3000/udp"),
            (3000, s("3001"), s("::1"), "udp".into())
        );
        assert_eq!(
            one("8000-8010:3000"),
            (3000, s("8000-8010"), None, "tcp".into())
        );
        let r = parse_short("127.0.0.1:6000-6001:7000-7001/udp").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[1].target, r[1].published.as_deref()),
            (7001, Some("6001"))
        );
        for bad in [
            "",
            "x:3000",
            "1:2:3:4",
            "3000-2000",
            "70000",
            "1-2:3-5",
            "3000/",
        ] {
            assert!(parse_short(bad).is_err(), "{bad}");
        }
    }
}
