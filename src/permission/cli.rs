//! `quartet opl check FILE...`: parse and type-check each OPL file, print every error and
//! warning as `file:line:col: message` with the source line and a caret; the caller exits 1
//! when any file has an error.

use std::io::Write;

use super::opl;

/// Checks the files, writing diagnostics to `out`; returns whether every file is valid.
pub fn opl_check(files: &[std::path::PathBuf], out: &mut dyn Write) -> bool {
    let mut ok = true;
    for file in files {
        let name = file.display().to_string();
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                let _ = writeln!(out, "{name}: cannot read: {e}");
                ok = false;
                continue;
            }
        };
        let parsed = opl::parse(&text);
        for d in parsed.errors.iter().chain(parsed.warnings.iter()) {
            let _ = writeln!(out, "{}", opl::render_diagnostic(&name, &text, d));
        }
        if parsed.errors.is_empty() {
            let _ = writeln!(out, "{name}: ok ({} namespaces)", parsed.namespaces.len());
        } else {
            ok = false;
        }
    }
    ok
}
