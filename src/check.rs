//! The workspace (config + rules + the two opened sources) and the `check` command.
//!
//! Finds each contour's env file in each repo, decodes it under both dialects and hands the
//! result to [`crate::rules::evaluate`]. `fix` and the hook reuse [`Workspace`].

use crate::config::{Config, Contour, Repo};
use crate::error::Error;
use crate::report::Report;
use crate::rules::{evaluate, ContourFiles, LoadedFile, Rules};
use crate::settings::Settings;
use crate::source::Source;

/// The first of `repo`'s candidate files for `contour` that exists in `source`.
pub fn find_env(
    config: &Config,
    repo: Repo,
    source: &Source,
    contour: &Contour,
) -> Result<Option<Found>, crate::source::SourceError> {
    for (file, specific) in config.repo(repo).candidates(contour) {
        if let Some(bytes) = source.read(&file)? {
            return Ok(Some(Found {
                file,
                bytes,
                specific,
            }));
        }
    }
    Ok(None)
}

/// Everything a command needs to read both repos.
#[derive(Debug)]
pub struct Workspace {
    pub config: Config,
    pub rules: Rules,
    pub backend: Source,
    pub infra: Source,
}

/// Where a contour's file was found.
#[derive(Debug, Clone)]
pub struct Found {
    pub file: String,
    pub bytes: Vec<u8>,
    /// Found through a `{contour}` candidate (not a shared fallback like `.env`).
    pub specific: bool,
}

impl Workspace {
    pub fn open(settings: &Settings) -> Result<Workspace, Error> {
        let config = settings.config.clone();
        let rules = Rules::for_config(&config)?;
        let backend = Source::open(
            &settings.backend,
            "backend",
            settings.staged_repo == Some(Repo::Backend),
        )?;
        let infra = Source::open(
            &settings.infra,
            "infra",
            settings.staged_repo == Some(Repo::Infra),
        )?;
        Ok(Workspace {
            config,
            rules,
            backend,
            infra,
        })
    }

    pub fn source(&self, repo: Repo) -> &Source {
        match repo {
            Repo::Backend => &self.backend,
            Repo::Infra => &self.infra,
        }
    }

    /// The first candidate that exists for `contour` in `repo`.
    pub fn find(&self, repo: Repo, contour: &Contour) -> Result<Option<Found>, Error> {
        Ok(find_env(&self.config, repo, self.source(repo), contour)?)
    }

    pub fn load(&self, repo: Repo, found: &Found) -> LoadedFile {
        LoadedFile::load(
            repo,
            found.file.clone(),
            &found.bytes,
            self.config.repo(repo).dialect,
            self.config.repo(repo.other()).dialect,
        )
    }

    fn missing(&self, repo: Repo, contour: &Contour) -> Error {
        Error::MissingEnvFile {
            contour: contour.name.clone(),
            repo,
            source_name: self.source(repo).to_string(),
            candidates: self
                .config
                .repo(repo)
                .candidates(contour)
                .into_iter()
                .map(|(c, _)| c)
                .collect(),
        }
    }

    /// Resolve `--contour` names (empty: every contour with a contour-specific file in either
    /// repo) and load both repos' files for all contours.
    pub fn select(&self, names: &[String]) -> Result<Selection<'_>, Error> {
        let mut all = Vec::new();
        for contour in &self.config.contours {
            let b = self.find(Repo::Backend, contour)?;
            let i = self.find(Repo::Infra, contour)?;
            all.push((contour, b, i));
        }
        let selected: Vec<&Contour> = if names.is_empty() {
            let present: Vec<&Contour> = all
                .iter()
                .filter(|(_, b, i)| {
                    b.as_ref().is_some_and(|f| f.specific) || i.as_ref().is_some_and(|f| f.specific)
                })
                .map(|(c, _, _)| *c)
                .collect();
            if present.is_empty() {
                let mut candidates: Vec<String> = Vec::new();
                for c in &self.config.contours {
                    for repo in Repo::BOTH {
                        for (f, _) in self.config.repo(repo).candidates(c) {
                            if !candidates.contains(&f) {
                                candidates.push(f);
                            }
                        }
                    }
                }
                return Err(Error::NoEnvFiles {
                    backend: self.backend.to_string(),
                    infra: self.infra.to_string(),
                    candidates,
                });
            }
            present
        } else {
            let mut v: Vec<&Contour> = Vec::new();
            for n in names {
                let c = self.config.contour(n)?;
                if !v.iter().any(|x| x.name == c.name) {
                    v.push(c);
                }
            }
            v
        };
        for c in &selected {
            let (_, b, i) = all
                .iter()
                .find(|(x, _, _)| x.name == c.name)
                .expect("all contours loaded");
            if b.is_none() {
                return Err(self.missing(Repo::Backend, c));
            }
            if i.is_none() {
                return Err(self.missing(Repo::Infra, c));
            }
        }
        let files: Vec<ContourFiles<'_>> = all
            .into_iter()
            .map(|(contour, b, i)| ContourFiles {
                contour,
                backend: b.map(|f| self.load(Repo::Backend, &f)),
                infra: i.map(|f| self.load(Repo::Infra, &f)),
            })
            .collect();
        Ok(Selection {
            selected: selected.iter().map(|c| c.name.clone()).collect(),
            files,
        })
    }
}

/// The loaded files of every contour, and which ones were selected.
#[derive(Debug)]
pub struct Selection<'a> {
    pub selected: Vec<String>,
    pub files: Vec<ContourFiles<'a>>,
}

impl<'a> Selection<'a> {
    /// The selected contours' files (borrowed: a 100k-line file is not copied).
    pub fn selected_files(&self) -> impl Iterator<Item = &ContourFiles<'a>> {
        self.files
            .iter()
            .filter(|f| self.selected.contains(&f.contour.name))
    }
}

/// `envsync check`.
pub fn check(ws: &Workspace, contours: &[String]) -> Result<Report, Error> {
    let sel = ws.select(contours)?;
    let findings = evaluate(&ws.rules, sel.selected_files(), &sel.files);
    Ok(Report::new(findings, sel.selected.clone()))
}
