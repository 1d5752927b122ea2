"""Documents (a PDF, inline or by URL) reach every backend in its own shape."""

from upstream import Reply, wire

PDF = "JVBERi0xLjQK"  # "%PDF-1.4\n"


def test_an_anthropic_document_reaches_every_other_backend(claude, upstream):
    document = {"type": "document", "title": "report.pdf",
                "source": {"type": "base64", "media_type": "application/pdf", "data": PDF}}
    messages = [{"role": "user", "content": [document, {"type": "text", "text": "Summarise"}]}]
    replies = {"gpt-d": "openai-chat-text.vercel.json", "resp-d": "openai-responses-reasoning.vercel.json",
               "gemini-d": "gemini-text.vercel.json"}
    for model, recording in replies.items():
        upstream.script(model, Reply(body=[wire(recording)]))
        claude.messages.create(model=model, max_tokens=50, messages=messages)

    chat = upstream.last("gpt-d").body["messages"][0]["content"]
    assert chat[0] == {"type": "file", "file": {"filename": "report.pdf", "file_data": f"data:application/pdf;base64,{PDF}"}}
    responses = upstream.last("resp-d").body["input"][0]["content"]
    assert responses[0] == {"type": "input_file", "filename": "report.pdf", "file_data": f"data:application/pdf;base64,{PDF}"}
    gemini = upstream.last("gemini-d").body["contents"][0]["parts"]
    assert gemini[0] == {"inlineData": {"mimeType": "application/pdf", "data": PDF}}


def test_chat_and_responses_files_reach_anthropic_as_documents(chat, upstream):
    upstream.script("claude-d-chat", Reply(body=[wire("anthropic-text.vercel.json")]))
    chat.chat.completions.create(model="claude-d-chat", messages=[{"role": "user", "content": [
        {"type": "file", "file": {"filename": "a.pdf", "file_data": f"data:application/pdf;base64,{PDF}"}},
        {"type": "text", "text": "Summarise"}]}])
    block = upstream.last("claude-d-chat").body["messages"][0]["content"][0]
    assert block == {"type": "document", "title": "a.pdf", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF}}

    upstream.script("claude-d-responses", Reply(body=[wire("anthropic-text.vercel.json")]))
    chat.responses.create(model="claude-d-responses", input=[{"role": "user", "content": [
        {"type": "input_file", "file_url": "https://example.com/b.pdf"}, {"type": "input_text", "text": "Summarise"}]}])
    block = upstream.last("claude-d-responses").body["messages"][0]["content"][0]
    assert block == {"type": "document", "source": {"type": "url", "url": "https://example.com/b.pdf"}}
