//! A chart directory of a working tree, checked before Helm reads it.
//!
//! Helm reads every file under the chart directory and follows symbolic links, so before it
//! runs envsync makes sure that what it will read is what the hostile-input rules allow: a
//! regular directory inside the repository that holds a `Chart.yaml`, made only of
//! directories and regular files (a FIFO would block Helm, a device would feed it forever),
//! each within the size cap, with links that stay inside the repository, and not more files
//! than a source listing holds. Charts read from a revision or the index are copied out of git
//! by the caller, which reads them through the same checks.

use std::path::{Path, PathBuf};

use crate::model::Repo;

use super::K8sError;

/// The most entries a chart directory may hold (as many as a source listing holds for a chart
/// copied out of git).
pub const MAX_ENTRIES: usize = 10_000;

/// Check the chart directory `rel` of the working tree at `root`; its path on disk.
pub fn check_dir(repo: Repo, root: &Path, rel: &str) -> Result<PathBuf, K8sError> {
    let err = |path: &str, message: String| K8sError::Chart {
        repo,
        path: path.to_string(),
        message,
    };
    let canon_root = std::fs::canonicalize(root)
        .map_err(|e| err(".", format!("cannot open the repository: {e}")))?;
    let dir = root.join(rel);
    let canon = std::fs::canonicalize(&dir).map_err(|e| {
        err(
            rel,
            if e.kind() == std::io::ErrorKind::NotFound {
                "no such chart directory; fix `chart` in the contour's kubernetes table".to_string()
            } else {
                format!("cannot open it: {e}")
            },
        )
    })?;
    if !canon.starts_with(&canon_root) {
        return Err(err(
            rel,
            "it leads outside the repository; envsync reads charts inside it only".into(),
        ));
    }
    if !canon.is_dir() {
        return Err(err(
            rel,
            "not a directory; `chart` names the directory that holds Chart.yaml".into(),
        ));
    }
    match std::fs::metadata(canon.join("Chart.yaml")) {
        Ok(m) if m.is_file() => {}
        _ => return Err(err(rel, "no Chart.yaml in it: not a Helm chart".into())),
    }
    let mut seen = 0usize;
    let mut stack = vec![(canon.clone(), rel.trim_end_matches('/').to_string())];
    while let Some((disk, shown)) = stack.pop() {
        let entries =
            std::fs::read_dir(&disk).map_err(|e| err(&shown, format!("cannot list it: {e}")))?;
        for entry in entries {
            let entry = entry.map_err(|e| err(&shown, format!("cannot list it: {e}")))?;
            seen += 1;
            if seen > MAX_ENTRIES {
                return Err(err(
                    rel,
                    format!("more than {MAX_ENTRIES} files; envsync refuses such a chart"),
                ));
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = format!("{shown}/{name}");
            let t = entry.file_type().map_err(|e| err(&path, e.to_string()))?;
            let (target, meta) = if t.is_symlink() {
                let target = std::fs::canonicalize(entry.path())
                    .map_err(|_| err(&path, "a symbolic link that leads nowhere".into()))?;
                if !target.starts_with(&canon_root) {
                    return Err(err(
                        &path,
                        "a symbolic link that leads outside the repository; Helm would read it"
                            .into(),
                    ));
                }
                let meta = std::fs::metadata(&target).map_err(|e| err(&path, e.to_string()))?;
                // A link back into the chart would be walked again: Helm would loop too.
                if meta.is_dir() && canon.starts_with(&target) {
                    return Err(err(
                        &path,
                        "a symbolic link to a directory that contains it".into(),
                    ));
                }
                (target, meta)
            } else {
                let meta = entry.metadata().map_err(|e| err(&path, e.to_string()))?;
                (entry.path(), meta)
            };
            if meta.is_dir() {
                stack.push((target, path));
            } else if !meta.is_file() {
                return Err(err(&path, "not a regular file (a FIFO, socket or device); Helm would block on it or read it forever, so envsync refuses the chart".into()));
            } else if meta.len() > crate::fs::read::MAX_SIZE {
                return Err(err(
                    &path,
                    format!(
                        "larger than {} MiB; envsync reads files up to that size",
                        crate::fs::read::MAX_SIZE / (1024 * 1024)
                    ),
                ));
            }
        }
    }
    Ok(dir)
}

/// Check a file Helm reads from the working tree at `root` (a values file): it exists, is a
/// regular file within the size cap, and does not lead outside the repository.
pub fn check_file(repo: Repo, root: &Path, rel: &str) -> Result<(), K8sError> {
    let err = |message: String| K8sError::Chart {
        repo,
        path: rel.to_string(),
        message,
    };
    let canon_root =
        std::fs::canonicalize(root).map_err(|e| err(format!("cannot open the repository: {e}")))?;
    let target = match std::fs::canonicalize(root.join(rel)) {
        Ok(t) => t,
        // Reading it says that it does not exist, with the contour's table to fix.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(err(format!("cannot open it: {e}"))),
    };
    if !target.starts_with(&canon_root) {
        return Err(err(
            "it leads outside the repository; Helm would read it".into()
        ));
    }
    let meta = std::fs::metadata(&target).map_err(|e| err(e.to_string()))?;
    if !meta.is_file() {
        return Err(err(
            "not a regular file; envsync reads only regular files".into()
        ));
    }
    if meta.len() > crate::fs::read::MAX_SIZE {
        return Err(err(format!(
            "larger than {} MiB; envsync reads files up to that size",
            crate::fs::read::MAX_SIZE / (1024 * 1024)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(root: &Path) {
        std::fs::create_dir_all(root.join("helm/c/templates")).unwrap();
        std::fs::write(
            root.join("helm/c/Chart.yaml"),
            "apiVersion: v2\nname: c\nversion: 0.1.0\n",
        )
        .unwrap();
        std::fs::write(root.join("helm/c/templates/x.yaml"), "").unwrap();
    }

    #[test]
    fn a_chart_of_regular_files_inside_the_repo_passes() {
        let d = tempfile::tempdir().unwrap();
        chart(d.path());
        std::os::unix::fs::symlink("../../shared.tpl", d.path().join("helm/c/templates/_s.tpl"))
            .unwrap();
        std::fs::write(d.path().join("helm/shared.tpl"), "").unwrap();
        assert!(check_dir(Repo::Backend, d.path(), "helm/c").is_ok());
    }

    #[test]
    fn values_files_stay_in_the_repo() {
        let d = tempfile::tempdir().unwrap();
        chart(d.path());
        std::fs::write(d.path().join("helm/v.yaml"), "").unwrap();
        assert!(check_file(Repo::Backend, d.path(), "helm/v.yaml").is_ok());
        assert!(check_file(Repo::Backend, d.path(), "helm/absent.yaml").is_ok());
        std::os::unix::fs::symlink("/etc/hostname", d.path().join("helm/out.yaml")).unwrap();
        let e = check_file(Repo::Backend, d.path(), "helm/out.yaml").unwrap_err();
        assert!(e.to_string().contains("leads outside"), "{e}");
        let e = check_file(Repo::Backend, d.path(), "helm").unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }

    #[test]
    fn fifos_escaping_links_and_non_charts_are_refused() {
        let d = tempfile::tempdir().unwrap();
        chart(d.path());
        let e = check_dir(Repo::Backend, d.path(), "helm/none").unwrap_err();
        assert!(e.to_string().contains("no such chart directory"), "{e}");
        let e = check_dir(Repo::Backend, d.path(), "helm/c/templates").unwrap_err();
        assert!(e.to_string().contains("no Chart.yaml"), "{e}");
        std::os::unix::fs::symlink("/etc", d.path().join("helm/c/templates/etc")).unwrap();
        let e = check_dir(Repo::Backend, d.path(), "helm/c").unwrap_err();
        assert!(
            e.to_string()
                .contains("helm/c/templates/etc: a symbolic link that leads outside"),
            "{e}"
        );
        std::fs::remove_file(d.path().join("helm/c/templates/etc")).unwrap();
        let fifo = d.path().join("helm/c/templates/pipe.yaml");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let e = check_dir(Repo::Backend, d.path(), "helm/c").unwrap_err();
        assert!(
            e.to_string().contains("pipe.yaml: not a regular file"),
            "{e}"
        );
        std::fs::remove_file(&fifo).unwrap();
        std::os::unix::fs::symlink("..", d.path().join("helm/c/templates/up")).unwrap();
        let e = check_dir(Repo::Backend, d.path(), "helm/c").unwrap_err();
        assert!(e.to_string().contains("contains it"), "{e}");
    }
}
