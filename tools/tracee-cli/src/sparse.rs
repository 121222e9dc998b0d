//! Reading files by their data, skipping holes: an artifact or executable
//! of a few bytes at a huge offset costs what its data costs.

use std::fs::File;

use nix::errno::Errno;
use nix::unistd::{Whence, lseek};

/// The next run of data in `f` (of `size` bytes) at or after `at`, as
/// `(start, end)`, or None past the last. A file system without
/// `SEEK_DATA` reads as one run.
pub fn next_extent(f: &File, at: u64, size: u64) -> Option<(u64, u64)> {
    let start = match lseek(f, at as i64, Whence::SeekData) {
        Ok(start) => start,
        Err(Errno::ENXIO) => return None,
        Err(_) => return Some((at, size)),
    };
    let end = lseek(f, start, Whence::SeekHole).map_or(size, |end| (end as u64).min(size));
    Some((start as u64, end))
}

/// Bytes of data in `f`, holes not counted.
pub fn data_bytes(f: &File, size: u64) -> u64 {
    let mut data = 0;
    let mut at = 0;
    while at < size {
        let Some((start, end)) = next_extent(f, at, size) else {
            break;
        };
        data += end - start;
        at = end;
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;
    use std::os::unix::fs::FileExt;

    #[test]
    fn holes_are_skipped() {
        let p = std::env::temp_dir().join(format!("wire-sparse-{}", std::process::id()));
        let f = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&p)
            .unwrap();
        std::fs::remove_file(&p).unwrap();
        f.write_all_at(b"ab", 1 << 30).unwrap();
        let size = (1 << 30) + 2;
        let data = data_bytes(&f, size);
        // One block of data where the file system keeps holes; the whole
        // file where it does not.
        assert!(data <= 1 << 20 || data == size, "{data}");
        let (start, end) = next_extent(&f, 0, size).unwrap();
        assert!(start <= 1 << 30 && end == size, "{start} {end}");
    }
}
