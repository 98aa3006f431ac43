//! The flusher's io_uring: positional writes and fdatasync.
//!
//! Only the flusher thread touches the ring. Every write waits for its
//! own completion before returning, so the buffers handed to the kernel
//! outlive the operations that read them, and writes reach the page cache
//! in call order. Only fdatasyncs may stay in flight after a call returns
//! (see [`Ring::write_and_start_sync`]).
//!
//! An error from a write or an fdatasync is returned as is and the caller
//! treats it as fatal: after a failed fsync the kernel may have dropped the
//! dirty pages, so retrying could report success for data that is gone.

use std::io;
use std::os::fd::RawFd;

use io_uring::{opcode, squeue, types, IoUring};

/// Largest single write submission; longer buffers go in chunks.
const WRITE_CHUNK_BYTES: usize = 1 << 30;

/// An io_uring used by one thread. Operations are tagged with tokens;
/// completions that arrive before their turn wait in `completed`.
pub struct Ring {
    ring: IoUring,
    /// Token for the next operation.
    next_token: u64,
    /// Completions reaped but not yet claimed, as (token, result).
    completed: Vec<(u64, i32)>,
}

impl Ring {
    pub fn new(entries: u32) -> io::Result<Ring> {
        Ok(Ring {
            ring: IoUring::new(entries)?,
            next_token: 1,
            completed: Vec::new(),
        })
    }

    /// Writes all of `buf` at `offset` of `fd`, then fdatasyncs.
    pub fn write_and_sync(&mut self, fd: RawFd, buf: &[u8], offset: u64) -> io::Result<()> {
        if buf.len() > WRITE_CHUNK_BYTES {
            self.write_at(fd, buf, offset)?;
            return self.fdatasync(fd);
        }
        let sync = self.write_and_start_sync(fd, buf, offset)?;
        self.finish_sync(sync)
    }

    /// Submits a write of `buf` at `offset` with an fdatasync linked
    /// behind it, in one submission; returns once the write is done (the
    /// data is in the page cache, so later writes land after it) and
    /// leaves the fdatasync running. Claim it with [`Ring::finish_sync`].
    /// A short write is an error: the space is preallocated, so it means
    /// the device is in trouble.
    pub fn write_and_start_sync(&mut self, fd: RawFd, buf: &[u8], offset: u64) -> io::Result<u64> {
        assert!(
            buf.len() <= WRITE_CHUNK_BYTES,
            "write of {} bytes in one submission",
            buf.len()
        );
        failpoint_write()?;
        failpoint_short_write(fd, buf, offset)?;
        let (write_token, sync_token) = (self.token(), self.token());
        let write = opcode::Write::new(types::Fd(fd), buf.as_ptr(), buf.len() as u32)
            .offset(offset)
            .build()
            .flags(squeue::Flags::IO_LINK)
            .user_data(write_token);
        let sync = opcode::Fsync::new(types::Fd(fd))
            .flags(types::FsyncFlags::DATASYNC)
            .build()
            .user_data(sync_token);
        // SAFETY: `buf` outlives the write: we wait for its completion
        // below; the fsync references no memory of ours.
        unsafe {
            let mut sq = self.ring.submission();
            sq.push(&write)
                .map_err(|_| io::Error::other("io_uring submission queue full"))?;
            sq.push(&sync)
                .map_err(|_| io::Error::other("io_uring submission queue full"))?;
        }
        let written = self.wait_for(write_token)?;
        if written < 0 {
            return Err(io::Error::from_raw_os_error(-written));
        }
        if written as usize != buf.len() {
            return Err(io::Error::other(format!(
                "short write: {written} of {} bytes",
                buf.len()
            )));
        }
        Ok(sync_token)
    }

    /// Writes all of `buf` at `offset` through the ring, then calls
    /// fdatasync directly on this thread. Used when nothing else is
    /// pending: an io_uring fsync always runs on a kernel worker thread,
    /// and the two thread switches that costs are a large part of one
    /// small append's latency.
    pub fn write_and_sync_here(&mut self, fd: RawFd, buf: &[u8], offset: u64) -> io::Result<()> {
        self.write_at(fd, buf, offset)?;
        // SAFETY: plain syscall on a valid descriptor.
        if unsafe { libc::fdatasync(fd) } != 0 {
            return Err(io::Error::last_os_error());
        }
        failpoint_fsync()
    }

    /// Waits for the fdatasync started by [`Ring::write_and_start_sync`].
    pub fn finish_sync(&mut self, token: u64) -> io::Result<()> {
        let synced = self.wait_for(token)?;
        if synced < 0 {
            return Err(io::Error::from_raw_os_error(-synced));
        }
        // The injected fsync error fires after the data reached the page
        // cache, as a real one would.
        failpoint_fsync()
    }

    /// Writes all of `buf` at `offset` without syncing.
    pub fn write_at(&mut self, fd: RawFd, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
        failpoint_write()?;
        failpoint_short_write(fd, buf, offset)?;
        while !buf.is_empty() {
            let len = buf.len().min(WRITE_CHUNK_BYTES);
            let write = opcode::Write::new(types::Fd(fd), buf.as_ptr(), len as u32)
                .offset(offset)
                .build();
            // SAFETY: `buf` outlives the operation; we wait for it below.
            let written = unsafe { self.run_one(write)? };
            if written < 0 {
                return Err(io::Error::from_raw_os_error(-written));
            }
            if written == 0 {
                return Err(io::Error::new(io::ErrorKind::WriteZero, "write returned 0"));
            }
            buf = &buf[written as usize..];
            offset += written as u64;
        }
        Ok(())
    }

    /// fdatasyncs `fd`.
    pub fn fdatasync(&mut self, fd: RawFd) -> io::Result<()> {
        let sync = opcode::Fsync::new(types::Fd(fd))
            .flags(types::FsyncFlags::DATASYNC)
            .build();
        // SAFETY: an fsync references no memory of ours.
        let result = unsafe { self.run_one(sync)? };
        if result < 0 {
            return Err(io::Error::from_raw_os_error(-result));
        }
        failpoint_fsync()
    }

    /// # Safety
    /// Memory the entry points at must stay valid until this returns
    /// (it waits for the completion).
    unsafe fn run_one(&mut self, entry: squeue::Entry) -> io::Result<i32> {
        let token = self.token();
        self.ring
            .submission()
            .push(&entry.user_data(token))
            .map_err(|_| io::Error::other("io_uring submission queue full"))?;
        self.wait_for(token)
    }

    fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    /// Submits what is queued and waits until the completion of `token`
    /// arrives, keeping others for later claims.
    fn wait_for(&mut self, token: u64) -> io::Result<i32> {
        loop {
            if let Some(at) = self.completed.iter().position(|&(t, _)| t == token) {
                return Ok(self.completed.swap_remove(at).1);
            }
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(e) => return Err(e),
            }
            self.completed.extend(
                self.ring
                    .completion()
                    .map(|cqe| (cqe.user_data(), cqe.result())),
            );
        }
    }
}

#[allow(clippy::unnecessary_wraps)]
fn failpoint_write() -> io::Result<()> {
    #[cfg(feature = "failpoints")]
    fail::fail_point!("raftlog::write", |_| Err(io::Error::other(
        "failpoint raftlog::write"
    )));
    Ok(())
}

#[allow(clippy::unnecessary_wraps)]
fn failpoint_fsync() -> io::Result<()> {
    #[cfg(feature = "failpoints")]
    fail::fail_point!("raftlog::fsync", |_| Err(io::Error::other(
        "failpoint raftlog::fsync"
    )));
    Ok(())
}

/// `raftlog::short-write`: writes the first half of `buf` and fails as a
/// short write would (the rest of the record never reaches the file).
#[allow(clippy::unnecessary_wraps, unused_variables)]
fn failpoint_short_write(fd: RawFd, buf: &[u8], offset: u64) -> io::Result<()> {
    #[cfg(feature = "failpoints")]
    if fail::eval("raftlog::short-write", |_| ()).is_some() {
        let half = buf.len() / 2;
        // SAFETY: `buf` is valid for `half` bytes; plain syscall.
        let written = unsafe { libc::pwrite(fd, buf.as_ptr().cast(), half, offset as libc::off_t) };
        return Err(io::Error::other(format!(
            "failpoint raftlog::short-write: {written} of {} bytes",
            buf.len()
        )));
    }
    Ok(())
}
