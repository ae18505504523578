//! The exit-code contract shared by every command.

/// 0 clean, 1 findings, 2 trouble.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// No error-severity finding; fix fixed everything; migrations applied or up to date.
    Clean,
    /// Drift or errors remain; a pending dry-run; a failed migration; a refused preflight;
    /// pending/modified/missing migrations in `status`; a commit blocked by the hook.
    Findings,
    /// Bad usage, unreadable or missing repo/file, invalid config or rules, database
    /// unreachable, git failure.
    Trouble,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Clean => 0,
            ExitStatus::Findings => 1,
            ExitStatus::Trouble => 2,
        }
    }

    pub fn from_findings(any: bool) -> ExitStatus {
        if any {
            ExitStatus::Findings
        } else {
            ExitStatus::Clean
        }
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(s: ExitStatus) -> Self {
        std::process::ExitCode::from(s.code())
    }
}

/// The text `--help` shows after the commands.
pub const HELP: &str = "Exit codes:\n  0  clean: no error finding; fix fixed everything; migrations applied or up to date\n  1  findings: drift remains, dry-run with changes, migration failed, preflight refused,\n     pending/modified/missing migrations, commit blocked by the hook\n  2  trouble: bad usage, missing repo or file, invalid config or rules, database unreachable,\n     git failure";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_contract() {
        assert_eq!(ExitStatus::Clean.code(), 0);
        assert_eq!(ExitStatus::Findings.code(), 1);
        assert_eq!(ExitStatus::Trouble.code(), 2);
        assert_eq!(ExitStatus::from_findings(true), ExitStatus::Findings);
        assert_eq!(ExitStatus::from_findings(false), ExitStatus::Clean);
    }
}
