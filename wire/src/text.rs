//! Untrusted bytes as text for a terminal: process names, paths, argv and
//! socket paths come from traced processes, and a raw ESC, CR or LF in them
//! would drive the reader's terminal or forge lines of output.
//!
//! ```
//! assert_eq!(wire::text::escaped(b"a\x1b]0;x\x07\nb\\"), "a\\x1b]0;x\\x07\\nb\\\\");
//! ```

use std::borrow::Cow;
use std::string::String;

/// Characters that must not reach a terminal as they are: C0 controls,
/// DEL, C1 controls (U+0080 to U+009F; some terminals read U+009B as
/// CSI), the line and paragraph separators, and the invisible characters
/// that reorder or hide text: bidirectional marks, overrides and isolates,
/// zero-width and other format characters, the soft hyphen, invisible
/// fillers, interlinear annotation marks, BOM and the tag characters.
pub fn is_unsafe(c: char) -> bool {
    matches!(c,
        '\0'..='\x1f' | '\x7f'..='\u{9f}' | '\u{ad}' | '\u{34f}' | '\u{61c}'
        | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}' | '\u{180b}'..='\u{180f}'
        | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{206f}'
        | '\u{3164}' | '\u{fe00}'..='\u{fe0f}' | '\u{feff}' | '\u{ffa0}'
        | '\u{fff9}'..='\u{fffb}' | '\u{e0000}'..='\u{e0fff}')
}

/// Appends `b` as text: invalid UTF-8 becomes U+FFFD, `\` becomes `\\`,
/// and every [unsafe](is_unsafe) character an escape (`\n`, `\r`, `\t`,
/// `\xHH` below 0x80, `\u{HHHH}` above), so the output is one line of
/// visible characters that says exactly which bytes were there.
pub fn push_escaped(out: &mut String, b: &[u8]) {
    match plain(b) {
        Some(s) => out.push_str(s),
        None => push_escaped_slow(out, b),
    }
}

/// `b` as it is, if it is printable ASCII without `\` (nearly every
/// value is).
fn plain(b: &[u8]) -> Option<&str> {
    // Every byte is looked at (no early exit), which lets the loop run on
    // whole words.
    let ok = b.iter().fold(true, |ok, &c| {
        ok & (c.wrapping_sub(0x20) < 0x5f) & (c != b'\\')
    });
    // SAFETY: only printable ASCII bytes, which are UTF-8.
    ok.then(|| unsafe { core::str::from_utf8_unchecked(b) })
}

fn push_escaped_slow(out: &mut String, b: &[u8]) {
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_char(out, c);
        }
        if !chunk.invalid().is_empty() {
            out.push('\u{fffd}');
        }
    }
}

fn push_char(out: &mut String, c: char) {
    use core::fmt::Write;
    match c {
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if is_unsafe(c) && (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if is_unsafe(c) => {
            let _ = write!(out, "\\u{{{:04x}}}", c as u32);
        }
        c => out.push(c),
    }
}

/// `b` as escaped text (see [`push_escaped`]), borrowed when it needs no
/// escape.
pub fn escaped(b: &[u8]) -> Cow<'_, str> {
    match plain(b) {
        Some(s) => Cow::Borrowed(s),
        None => {
            let mut s = String::with_capacity(b.len() + 8);
            push_escaped_slow(&mut s, b);
            Cow::Owned(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;
    use std::string::ToString;

    #[test]
    fn nothing_unsafe_survives() {
        let hostile = "\x1b]0;pwn\x07\x1b[2J\n0 root\r\t\u{9b}31m\u{202e}txt.exe\u{200b}\x7f";
        for c in [
            '\u{61c}',
            '\u{2028}',
            '\u{2029}',
            '\u{ad}',
            '\u{e0041}',
            '\u{180e}',
            '\u{fffa}',
            '\u{3164}',
        ] {
            assert!(is_unsafe(c), "{c:?}");
            assert_eq!(
                escaped(c.to_string().as_bytes()),
                format!("\\u{{{:04x}}}", c as u32)
            );
        }
        assert!(!is_unsafe('é') && !is_unsafe('中') && !is_unsafe(' '));
        let e = escaped(hostile.as_bytes());
        assert!(!e.chars().any(is_unsafe), "{e:?}");
        assert_eq!(
            e,
            "\\x1b]0;pwn\\x07\\x1b[2J\\n0 root\\r\\t\\u{009b}31m\\u{202e}txt.exe\\u{200b}\\x7f"
        );
    }

    #[test]
    fn plain_text_is_unchanged_and_escapes_are_unambiguous() {
        assert_eq!(escaped(b"/usr/bin/ls -la"), "/usr/bin/ls -la");
        assert_eq!(escaped("café".as_bytes()), "café");
        // A literal backslash sequence cannot pass for an escape.
        assert_eq!(escaped(b"\\x1b"), "\\\\x1b");
        assert_eq!(escaped(b"a\xffb"), "a\u{fffd}b");
    }
}
