//! Records the git commit the server is built from, for the start-up log
//! (`REDRAFT_GIT_COMMIT`); left unset when the source is not a git
//! checkout or git is missing. Reruns when the checked-out commit moves.

use std::process::Command;

/// `git` with `args` in the package's directory: its trimmed output, if
/// it succeeded.
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=REDRAFT_GIT_COMMIT");
    let Some(commit) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        return;
    };
    println!("cargo:rustc-env=REDRAFT_GIT_COMMIT={commit}");
    // HEAD names the branch; the branch's ref (or packed-refs) the commit.
    if let Some(head) = git(&["rev-parse", "--path-format=absolute", "--git-path", "HEAD"]) {
        println!("cargo:rerun-if-changed={head}");
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        for path in [branch.as_str(), "packed-refs"] {
            if let Some(file) = git(&["rev-parse", "--path-format=absolute", "--git-path", path]) {
                if std::path::Path::new(&file).exists() {
                    println!("cargo:rerun-if-changed={file}");
                }
            }
        }
    }
}
