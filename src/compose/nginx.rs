//! The upstreams nginx proxies to: `proxy_pass http://HOST:PORT…;`, directly or through an
//! `upstream NAME { server HOST:PORT; }` block. Enough of nginx's syntax for the check that the
//! API's port is the one nginx sends to; comments (`#`) are skipped.

/// One place where nginx sends requests to `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub host: String,
    /// `None` when the URL names no port (80 for http, 443 for https).
    pub port: Option<u16>,
    /// 1-based line of the `proxy_pass` (or of the upstream's `server`).
    pub line: usize,
}

/// Every `proxy_pass` target of a config file, upstream blocks resolved.
pub fn upstreams(text: &str) -> Vec<Upstream> {
    // Statements: (line, words) split at `;`, `{` and `}`, comments removed.
    let mut statements: Vec<(usize, Vec<String>, char)> = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut start = 0usize;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("");
        let mut word = String::new();
        for c in line.chars() {
            match c {
                ';' | '{' | '}' => {
                    if !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    statements.push((start.max(1), std::mem::take(&mut words), c));
                    start = 0;
                }
                c if c.is_whitespace() => {
                    if !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                }
                c => {
                    if words.is_empty() && word.is_empty() {
                        start = i + 1;
                    }
                    word.push(c);
                }
            }
        }
        if !word.is_empty() {
            words.push(word);
        }
    }
    let mut blocks: Vec<(String, Vec<Upstream>)> = Vec::new();
    let mut current: Option<usize> = None;
    let mut passes: Vec<(usize, String)> = Vec::new();
    for (line, w, end) in &statements {
        match (w.first().map(String::as_str), end) {
            (Some("upstream"), '{') if w.len() == 2 => {
                blocks.push((w[1].clone(), Vec::new()));
                current = Some(blocks.len() - 1);
            }
            (Some("server"), ';') if current.is_some() && w.len() >= 2 => {
                let (host, port) = host_port(&w[1], None);
                if let Some(b) = current.and_then(|i| blocks.get_mut(i)) {
                    b.1.push(Upstream {
                        host,
                        port,
                        line: *line,
                    });
                }
            }
            (None, '}') => current = None,
            (Some("proxy_pass"), ';') if w.len() == 2 => passes.push((*line, w[1].clone())),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (line, url) in passes {
        let (scheme_port, rest) = if let Some(r) = url.strip_prefix("http://") {
            (80, r)
        } else if let Some(r) = url.strip_prefix("https://") {
            (443, r)
        } else {
            continue;
        };
        let authority = rest.split('/').next().unwrap_or("");
        let (host, port) = host_port(authority, None);
        match blocks.iter().find(|(name, _)| *name == host) {
            Some((_, servers)) if port.is_none() => out.extend(servers.iter().cloned()),
            _ => out.push(Upstream {
                host,
                port: port.or(if authority.contains('$') {
                    None
                } else {
                    Some(scheme_port)
                }),
                line,
            }),
        }
    }
    out
}

fn host_port(s: &str, default: Option<u16>) -> (String, Option<u16>) {
    match s.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty() => {
            (h.to_string(), p.parse().ok())
        }
        _ => (s.to_string(), default),
    }
}

/// Does a config file at `path` apply to the contour named by `names`? A file whose path has a
/// component (or a dot-separated part of its name) naming a contour applies to that contour
/// only (`nginx/prod/api.conf`, `nginx/api.prod.conf`); any other file applies to every contour.
pub fn applies(path: &str, names: &[&str], all_names: &[&str]) -> bool {
    let parts: Vec<&str> = path.split(['/', '.']).collect();
    let tagged: Vec<&&str> = parts.iter().filter(|p| all_names.contains(p)).collect();
    tagged.is_empty() || tagged.iter().any(|p| names.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_pass_direct_and_through_upstreams() {
        let conf = "upstream api_up {\n  server app:3200;\n}\nserver {\n  listen 80; # http\n  location /api/ {\n    proxy_pass http://app:3000/;\n  }\n  location /b/ { proxy_pass http://api_up; }\n  # proxy_pass http://app:9999/;\n  location /c/ { proxy_pass http://static; }\n}\n";
        let u = upstreams(conf);
        let got: Vec<_> = u
            .iter()
            .map(|u| (u.host.as_str(), u.port, u.line))
            .collect();
        assert_eq!(
            got,
            [
                ("app", Some(3000), 7),
                ("app", Some(3200), 2),
                ("static", Some(80), 11)
            ]
        );
    }

    #[test]
    fn contour_specific_files() {
        let all = ["dev", "development", "prod", "production"];
        assert!(applies(
            "nginx/prod/api.conf",
            &["prod", "production"],
            &all
        ));
        assert!(!applies(
            "nginx/prod/api.conf",
            &["dev", "development"],
            &all
        ));
        assert!(applies("nginx/conf.d/api.conf", &["dev"], &all));
        assert!(applies(
            "nginx/api.production.conf",
            &["prod", "production"],
            &all
        ));
    }
}
