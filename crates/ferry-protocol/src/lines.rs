//! Newline-delimited framing with a bound on the line length (for stdio transports).
//!
//! [`LineSplitter`] is fed the bytes of a stream as they come and hands back whole
//! lines. A line longer than its limit is never buffered: its start is dropped as
//! soon as it passes the limit, the rest is skipped up to the newline, and the
//! splitter reports [`Frame::TooLong`] in place of the line. It performs no I/O;
//! a transport feeds it from its reader:
//!
//! ```
//! use ferry_protocol::lines::{Frame, LineSplitter};
//! let mut lines = LineSplitter::new(8);
//! let input = b"short\nmuch too long for eight\nok\n";
//! let (mut rest, mut frames) = (&input[..], Vec::new());
//! while !rest.is_empty() {
//!     let (used, frame) = lines.feed(rest);
//!     rest = &rest[used..];
//!     frames.extend(frame);
//! }
//! assert_eq!(frames, [Frame::Line(b"short".to_vec()), Frame::TooLong, Frame::Line(b"ok".to_vec())]);
//! ```

/// What [`LineSplitter`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A line, without its `\n`.
    Line(Vec<u8>),
    /// A line longer than the limit, skipped.
    TooLong,
}

/// Splits a byte stream into lines of at most `max` bytes (see the [module](self)).
#[derive(Debug)]
pub struct LineSplitter {
    max: usize,
    line: Vec<u8>,
    /// Skipping the rest of an oversized line.
    skipping: bool,
}

impl LineSplitter {
    /// A splitter refusing lines longer than `max` bytes (the `\n` not counted).
    pub fn new(max: usize) -> Self {
        Self { max, line: Vec::new(), skipping: false }
    }

    /// The longest line accepted.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Take bytes from `chunk`: how many were used, and the frame they completed, if
    /// any. Bytes after a completed frame are left for the next call.
    pub fn feed(&mut self, chunk: &[u8]) -> (usize, Option<Frame>) {
        let newline = chunk.iter().position(|&b| b == b'\n');
        let body = &chunk[..newline.unwrap_or(chunk.len())];
        if !self.skipping {
            if self.line.len() + body.len() > self.max {
                self.line = Vec::new();
                self.skipping = true;
            } else {
                self.line.extend_from_slice(body);
            }
        }
        match newline {
            None => (chunk.len(), None),
            Some(at) => (at + 1, Some(self.take())),
        }
    }

    /// The end of the stream: the unterminated last line, if there is one.
    pub fn finish(&mut self) -> Option<Frame> {
        (self.skipping || !self.line.is_empty()).then(|| self.take())
    }

    fn take(&mut self) -> Frame {
        if std::mem::take(&mut self.skipping) {
            Frame::TooLong
        } else {
            Frame::Line(std::mem::take(&mut self.line))
        }
    }
}

/// The next line (or oversized line, skipped) from `reader`; `None` at its end.
#[cfg(feature = "tokio")]
pub async fn next_frame(
    reader: &mut (impl tokio::io::AsyncBufRead + Unpin),
    lines: &mut LineSplitter,
) -> std::io::Result<Option<Frame>> {
    use tokio::io::AsyncBufReadExt;
    loop {
        let chunk = reader.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(lines.finish());
        }
        let (used, frame) = lines.feed(chunk);
        reader.consume(used);
        if frame.is_some() {
            return Ok(frame);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `input` in pieces of `step` bytes.
    fn split(max: usize, input: &[u8], step: usize) -> Vec<Frame> {
        let mut s = LineSplitter::new(max);
        let mut frames = Vec::new();
        for piece in input.chunks(step) {
            let mut rest = piece;
            while !rest.is_empty() {
                let (used, frame) = s.feed(rest);
                rest = &rest[used..];
                frames.extend(frame);
            }
        }
        frames.extend(s.finish());
        frames
    }

    #[test]
    fn lines_at_the_limit_pass_longer_ones_are_skipped_whatever_the_chunking() {
        let input = b"1234\n12345\n\n123456789\nab\ntail";
        for step in 1..=input.len() {
            assert_eq!(
                split(4, input, step),
                [
                    Frame::Line(b"1234".to_vec()),
                    Frame::TooLong,
                    Frame::Line(Vec::new()),
                    Frame::TooLong,
                    Frame::Line(b"ab".to_vec()),
                    Frame::Line(b"tail".to_vec()),
                ],
                "chunks of {step}"
            );
        }
        assert_eq!(split(4, b"123456", 2), [Frame::TooLong]);
    }

    #[test]
    fn an_oversized_line_is_not_buffered() {
        let mut s = LineSplitter::new(10);
        for _ in 0..1000 {
            assert_eq!(s.feed(&[b'x'; 1000]), (1000, None));
        }
        assert!(s.line.capacity() <= 10);
        assert_eq!(s.feed(b"\n"), (1, Some(Frame::TooLong)));
    }
}
