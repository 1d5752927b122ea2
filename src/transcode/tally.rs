//! What a stream used, read from its IR events as they pass: the usage its start and finish report,
//! and, for a stream cut before its finish, an estimate of the output it did stream. And the
//! stream events the proxy asked for on the client's behalf, which the client must not see.

use crate::codec::Codec;
use crate::error::ProxyError;
use crate::ir::{Delta, StreamEvent, Usage};
use crate::sse;

#[derive(Debug, Default)]
pub struct Tally {
    start: Option<Usage>,
    finish: Option<Usage>,
    /// Characters of text, thinking and tool arguments streamed.
    streamed_chars: u64,
}

/// What a finished (or cut) stream used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamUsage {
    pub usage: Usage,
    /// The stream's own report; otherwise its start's report plus the output streamed at about
    /// four characters a token.
    pub reported: bool,
}

impl Tally {
    pub fn see(&mut self, events: &[StreamEvent]) {
        for event in events {
            match event {
                StreamEvent::Start { usage, .. } => self.start = Some(*usage),
                // A finish that counts nothing reports nothing: a Chat stream whose server sent no
                // usage chunk (not asked, or unable to) is then estimated as if it were cut.
                StreamEvent::Finish { usage, .. } => self.finish = Some(*usage).filter(|u| *u != Usage::default()),
                StreamEvent::Delta { delta, .. } => {
                    let text = match delta {
                        Delta::Text(text) | Delta::Thinking(text) | Delta::ToolArguments(text) => text.as_str(),
                        Delta::Signature(_) => "",
                    };
                    self.streamed_chars += text.chars().count() as u64;
                }
                StreamEvent::BlockStart { .. } | StreamEvent::BlockStop { .. } => {}
            }
        }
    }

    pub fn usage(&self) -> Option<StreamUsage> {
        if let Some(usage) = self.finish {
            return Some(StreamUsage { usage, reported: true });
        }
        if self.start.is_none() && self.streamed_chars == 0 {
            return None;
        }
        let streamed = self.streamed_chars.div_ceil(4);
        let mut usage = self.start.unwrap_or_default();
        usage.output_tokens = usage.output_tokens.max(streamed);
        Some(StreamUsage { usage, reported: false })
    }
}

/// A short name of how a stream failed, for the usage record.
pub fn failure_class(error: &ProxyError) -> String {
    if *error == crate::codec::truncated() {
        "cut".into()
    } else if error.kind == crate::error::ErrorKind::Timeout {
        "timeout".into()
    } else {
        format!("status {}", error.status)
    }
}

/// `bytes` (whole events) without the events only the proxy asked for (see
/// `Codec::is_unasked_usage`).
pub fn without_unasked_usage(codec: &dyn Codec, bytes: Vec<u8>) -> Vec<u8> {
    let spans = event_spans(&bytes);
    let unasked = |span: &[u8]| {
        let mut parser = sse::Parser::new();
        let mut events = Vec::new();
        let _ = parser.feed(span, &mut |event| events.push(event));
        parser.finish(&mut |event| events.push(event));
        !events.is_empty() && events.iter().all(|event| codec.is_unasked_usage(event))
    };
    if !spans.iter().any(|span| unasked(&bytes[span.clone()])) {
        return bytes;
    }
    spans.into_iter().filter(|span| !unasked(&bytes[span.clone()])).flat_map(|span| bytes[span].to_vec()).collect()
}

/// The byte ranges of the events in `bytes`, each with the blank line that ends it; the last
/// range runs to the end.
fn event_spans(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut spans = Vec::new();
    let (mut start, mut line_start, mut i) = (0, 0, 0);
    while i < bytes.len() {
        let end = match bytes[i] {
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => i + 2,
            b'\r' | b'\n' => i + 1,
            _ => {
                i += 1;
                continue;
            }
        };
        if i == line_start {
            spans.push(start..end);
            start = end;
        }
        (i, line_start) = (end, end);
    }
    if start < bytes.len() {
        spans.push(start..bytes.len());
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::Dialect;

    #[test]
    fn events_split_at_their_blank_lines_whatever_the_line_ends() {
        let text = b"data: a\n\ndata: b\r\n\r\n: c\rdata: d\r\r";
        let spans: Vec<&[u8]> = event_spans(text).into_iter().map(|s| &text[s]).collect();
        assert_eq!(spans, [&b"data: a\n\n"[..], b"data: b\r\n\r\n", b": c\rdata: d\r\r"]);
        assert_eq!(event_spans(b"data: x\n"), vec![0..8], "an unterminated event is its own span");
    }

    #[test]
    fn a_usage_chunk_the_client_did_not_ask_for_is_left_out() {
        let codec = Dialect::OpenAiChat.codec();
        let content = b"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}]}\n\n".to_vec();
        let usage = b"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1,\"total_tokens\":6}}\n\n".to_vec();
        let done = b"data: [DONE]\n\n".to_vec();
        let stream = [content.clone(), usage, done.clone()].concat();
        assert_eq!(without_unasked_usage(codec, stream), [content.clone(), done].concat());
        assert_eq!(without_unasked_usage(Dialect::Anthropic.codec(), content.clone()), content, "nothing else");
    }

    #[test]
    fn a_cut_stream_counts_what_it_streamed() {
        let mut tally = Tally::default();
        assert_eq!(tally.usage(), None);
        let start = Usage { input_tokens: 30, ..Usage::default() };
        tally.see(&[
            StreamEvent::Start { id: "m".into(), model: "m".into(), usage: start },
            StreamEvent::Delta { index: 0, delta: Delta::Text("12345678".into()) },
            StreamEvent::Delta { index: 0, delta: Delta::ToolArguments("{}".into()) },
        ]);
        let cut = tally.usage().unwrap();
        assert_eq!((cut.usage.input_tokens, cut.usage.output_tokens, cut.reported), (30, 3, false));
        let finish = Usage { input_tokens: 30, output_tokens: 2, ..Usage::default() };
        tally.see(&[StreamEvent::Finish { stop_reason: None, stop_sequence: None, usage: finish }]);
        assert_eq!(tally.usage(), Some(StreamUsage { usage: finish, reported: true }));
    }

    #[test]
    fn a_finish_that_counts_nothing_is_estimated() {
        let mut tally = Tally::default();
        tally.see(&[
            StreamEvent::Start { id: "c".into(), model: "m".into(), usage: Usage::default() },
            StreamEvent::Delta { index: 0, delta: Delta::Thinking("1234".into()) },
            StreamEvent::Delta { index: 1, delta: Delta::Text("12345".into()) },
            StreamEvent::Finish { stop_reason: None, stop_sequence: None, usage: Usage::default() },
        ]);
        let estimated = tally.usage().unwrap();
        assert_eq!((estimated.usage.output_tokens, estimated.reported), (3, false));
    }
}
