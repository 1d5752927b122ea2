use super::*;

fn through(transcoder: &mut Transcoder, bytes: &[u8], piece: usize) -> Vec<u8> {
    let mut out: Vec<u8> = bytes.chunks(piece).flat_map(|chunk| transcoder.push(chunk)).collect();
    out.extend(transcoder.end());
    out
}

#[test]
fn a_passthrough_stream_ends_at_its_last_event_whatever_the_cut_and_line_ends() {
    let lf = include_bytes!("../../fixtures/wire/openai-chat-tool.sdkpy.sse");
    let crlf = String::from_utf8_lossy(lf).replace('\n', "\r\n").into_bytes();
    for recording in [lf.to_vec(), crlf] {
        for piece in 1..8 {
            let mut transcoder = Transcoder::passthrough(Dialect::OpenAiChat);
            let out = through(&mut transcoder, &recording, piece);
            // All of it, but for the `\n` of a CRLF blank line that came after `[DONE]` was read.
            assert!(recording.starts_with(&out) && out.len() + 1 >= recording.len(), "pieces of {piece}");
            assert!(transcoder.is_finished());
        }
    }
    // The chunk that held the last event goes out as it came; nothing after it is read.
    let mut transcoder = Transcoder::passthrough(Dialect::OpenAiChat);
    let out = transcoder.push(b"data: [DONE]\n\ndata: {\"x\":1}\n\n");
    assert_eq!(out, b"data: [DONE]\n\ndata: {\"x\":1}\n\n".to_vec());
    assert!(transcoder.is_finished() && transcoder.push(b"data: more\n\n").is_empty());
}

#[test]
fn comment_lines_without_an_event_cannot_fill_a_passthrough_stream() {
    let mut transcoder = Transcoder::passthrough(Dialect::Anthropic);
    let comments = b": keep-alive\n".repeat(1024);
    let mut out = Vec::new();
    for _ in 0..(sse::MAX_EVENT_BYTES / comments.len() + 2) {
        out.extend(transcoder.push(&comments));
        if transcoder.is_finished() {
            break;
        }
    }
    assert!(transcoder.is_finished());
    assert!(String::from_utf8_lossy(&out).contains("event: error"), "ends with an error event");
}

const MESSAGE_START: &[u8] = b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude\",\"content\":[],\"usage\":{\"input_tokens\":1,\"output_tokens\":0}}}\n\nevent: ping\ndata: {\"type\":\"ping\"}\n\n";
const OVERLOADED: &[u8] =
    b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";

#[test]
fn a_held_start_gives_up_an_error_before_content_and_writes_nothing() {
    let translated = || {
        let encoder = Dialect::OpenAiChat.codec().encoder(&Default::default());
        Transcoder::translate(Dialect::OpenAiChat, Dialect::Anthropic.codec().decoder(), encoder)
    };
    for mut transcoder in [Transcoder::passthrough(Dialect::Anthropic).hold_start(), translated().hold_start()] {
        assert!(through(&mut transcoder, &[MESSAGE_START, OVERLOADED].concat(), 9).is_empty());
        let failure = transcoder.failure_before_content().expect("the error, for another attempt");
        assert_eq!((failure.status, failure.message.as_str()), (529, "Overloaded"));
        assert!(transcoder.is_finished() && !transcoder.is_holding());
    }
    // Cut before any content: the same.
    let mut transcoder = translated().hold_start();
    assert!(through(&mut transcoder, MESSAGE_START, 5).is_empty());
    assert_eq!(transcoder.failure_before_content(), Some(truncated()));
}

#[test]
fn a_held_start_is_released_whole_with_the_first_content() {
    let recording = include_bytes!("../../fixtures/wire/anthropic-tool-use.sdkpy.sse");
    let mut transcoder = Transcoder::passthrough(Dialect::Anthropic).hold_start();
    let mut out = Vec::new();
    for chunk in recording.chunks(7) {
        let piece = transcoder.push(chunk);
        if transcoder.is_holding() {
            assert!(piece.is_empty(), "nothing before the content");
        }
        out.extend(piece);
    }
    out.extend(transcoder.end());
    assert_eq!(out, recording.to_vec(), "then every byte, in order");
    assert_eq!(transcoder.failure_before_content(), None);
    // An error after content is the client's error event, as without a held start.
    let cut = &recording[..recording.len() / 2];
    let mut transcoder = Transcoder::passthrough(Dialect::Anthropic).hold_start();
    let out = through(&mut transcoder, cut, 64);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("event: message_start") && text.contains("\n\nevent: error\n"), "{text}");
    assert_eq!(transcoder.failure_before_content(), None);
}

#[test]
fn a_metered_passthrough_stream_is_counted_and_left_as_it_came() {
    let recording = include_bytes!("../../fixtures/wire/anthropic-tool-use.sdkpy.sse");
    let mut transcoder = Transcoder::passthrough(Dialect::Anthropic).metered(false);
    assert_eq!(through(&mut transcoder, recording, 11), recording.to_vec());
    let counted = transcoder.usage().unwrap();
    assert!(counted.reported);
    assert_eq!((counted.usage.input_tokens, counted.usage.output_tokens), (377, 65));
    assert_eq!(transcoder.failure(), None);
    // Unmetered, nothing is decoded past the start.
    let mut transcoder = Transcoder::passthrough(Dialect::Anthropic);
    through(&mut transcoder, recording, 11);
    assert_eq!(transcoder.usage(), None);
}

#[test]
fn a_chat_stream_keeps_from_its_client_the_usage_chunk_only_the_proxy_asked_for() {
    let recording = include_bytes!("../../fixtures/wire/openai-chat-tool.sdkpy.sse");
    let text = String::from_utf8_lossy(recording);
    let mut transcoder = Transcoder::passthrough(Dialect::OpenAiChat).metered(true);
    let out = String::from_utf8(through(&mut transcoder, recording, 13)).unwrap();
    assert!(!out.contains("\"usage\"") && out.ends_with("data: [DONE]\n\n"), "{out}");
    assert_eq!(out.len(), text.len() - text.lines().find(|l| l.contains("\"usage\"")).unwrap().len() - 2);
    let counted = transcoder.usage().unwrap();
    assert_eq!((counted.usage.input_tokens, counted.usage.output_tokens, counted.reported), (44, 16, true));
}

#[test]
fn a_translated_stream_cut_short_counts_its_start_and_what_it_streamed() {
    let recording = include_bytes!("../../fixtures/wire/anthropic-tool-use.sdkpy.sse");
    let at = recording.len() * 2 / 3;
    let cut = &recording[..at + recording[at..].windows(2).position(|w| w == b"\n\n").unwrap() + 2];
    let encoder = Dialect::OpenAiChat.codec().encoder(&Default::default());
    let mut transcoder = Transcoder::translate(Dialect::OpenAiChat, Dialect::Anthropic.codec().decoder(), encoder);
    through(&mut transcoder, cut, 17);
    let counted = transcoder.usage().unwrap();
    assert!(!counted.reported && counted.usage.input_tokens == 377 && counted.usage.output_tokens > 1, "{counted:?}");
    assert_eq!(transcoder.failure().as_deref(), Some("cut"));
}
