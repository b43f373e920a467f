//! Fuzzes the OPL front end (`quartet::permission::opl`): any input must parse without
//! panicking, every error must carry a position inside the input, and a file that parses
//! without errors must lower to the rewrite IR. Seeded from `tests/data/permission/opl`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quartet::permission::opl;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = opl::parse(src);
    for d in parsed.errors.iter().chain(parsed.warnings.iter()) {
        assert!(d.start.offset <= src.len() && d.end.offset <= src.len());
        let _ = opl::render_diagnostic("fuzz.ts", src, d);
    }
    if parsed.is_ok() {
        assert!(parsed.schema().is_some());
    }
    let _ = parsed.syntax_check_result();
});
