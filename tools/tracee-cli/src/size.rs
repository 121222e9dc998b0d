//! Sizes on the command line: bytes with an optional K, M or G suffix
//! (powers of 1024), as every tool's size options take them.

/// `s` as bytes: digits with an optional `K`, `M` or `G` (either case).
/// None if it is not one, or does not fit in 64 bits.
pub fn parse(s: &str) -> Option<u64> {
    let (num, mul) = match s.as_bytes().last()? {
        b'K' | b'k' => (&s[..s.len() - 1], 1u64 << 10),
        b'M' | b'm' => (&s[..s.len() - 1], 1 << 20),
        b'G' | b'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    num.parse::<u64>().ok()?.checked_mul(mul)
}

/// [`parse`], kept only if it is a power of two from `min` to `max`.
pub fn power_of_two(s: &str, min: u64, max: u64) -> Option<u64> {
    parse(s).filter(|&v| v.is_power_of_two() && (min..=max).contains(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_and_bounds() {
        assert_eq!(parse("4096"), Some(4096));
        assert_eq!(parse("8k"), Some(8192));
        assert_eq!(parse("16M"), Some(16 << 20));
        assert_eq!(parse("1G"), Some(1 << 30));
        for bad in [
            "",
            "K",
            "-1",
            "+1",
            "1.5M",
            "1T",
            "1 M",
            "99999999999999999999",
            "17179869184G",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(power_of_two("128K", 1 << 17, 1 << 32), Some(1 << 17));
        assert_eq!(power_of_two("4G", 1 << 17, 1 << 32), Some(1 << 32));
        assert_eq!(power_of_two("8G", 1 << 17, 1 << 32), None);
        assert_eq!(power_of_two("64K", 1 << 17, 1 << 32), None);
        assert_eq!(power_of_two("192K", 1 << 17, 1 << 32), None);
    }
}
