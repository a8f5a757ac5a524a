"""Talking to an OpenAI-compatible ``/chat/completions`` endpoint: one request, one reply's text.

Every failure (a bad URL, HTTP errors, time-outs, a reply that is not a chat completion) is an
``InputError`` with a one-line message that never shows a key or password from the URL.
"""

from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.parse
import urllib.request

from semsearch.errors import InputError

DEFAULT_TIMEOUT = 60.0
MAX_REPLY_CHARS = 20_000


def chat_endpoint(url: str) -> str:
    """``{url}/chat/completions`` unless ``url`` already ends with it (query strings are kept)."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(f"the LLM URL {display_url(url)!r} is not an http:// or https:// URL")
    path = parts.path.rstrip("/")
    if not path.endswith("/chat/completions"):
        path += "/chat/completions"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def display_url(url: str) -> str:
    """The URL for messages: no user:password, no query string (either may hold a key)."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
    except ValueError:
        return "<invalid URL>"
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", "")) or url


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _http_error_detail(error: urllib.error.HTTPError) -> str:
    try:
        body = error.read(4096).decode("utf-8", "replace")
    except Exception:  # the body is a courtesy; the status says enough
        return ""
    try:
        data = json.loads(body)
        message = data.get("error", data) if isinstance(data, dict) else data
        if isinstance(message, dict):
            message = message.get("message") or message
        body = message if isinstance(message, str) else json.dumps(message, ensure_ascii=False)
    except ValueError:
        pass
    return f": {_one_line(body)}" if body.strip() else ""


def _is_loopback(host: str | None) -> bool:
    return host in ("localhost", "127.0.0.1", "::1") or bool(host and host.startswith("127."))


def complete(url: str, body: dict, api_key: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> str:
    """POST ``body`` to the chat endpoint for ``url``; the reply's message text. Every failure is an InputError."""
    endpoint = chat_endpoint(url)
    shown = display_url(endpoint)
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(endpoint, data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                                     headers=headers, method="POST")
    # A proxy set for the outside world must not capture a model running on this machine.
    handlers = [urllib.request.ProxyHandler({})] if _is_loopback(urllib.parse.urlsplit(endpoint).hostname) else []
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=timeout) as response:
            raw = response.read(MAX_REPLY_CHARS * 8 + 1)
    except urllib.error.HTTPError as exc:
        raise InputError(f"the LLM at {shown} answered HTTP {exc.code} {exc.reason}{_http_error_detail(exc)}") from None
    except (TimeoutError, socket.timeout):
        raise InputError(f"the LLM at {shown} did not answer within {timeout:g}s") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (TimeoutError, socket.timeout)):
            raise InputError(f"the LLM at {shown} did not answer within {timeout:g}s") from None
        raise InputError(f"cannot reach the LLM at {shown}: {_one_line(exc.reason)}") from None
    except (http.client.HTTPException, OSError, ValueError) as exc:
        raise InputError(f"the LLM at {shown} failed: {_one_line(exc) or type(exc).__name__}") from None
    data = None
    try:
        data = json.loads(raw.decode("utf-8"))
        content = data["choices"][0]["message"]["content"]
    except (ValueError, UnicodeDecodeError, KeyError, IndexError, TypeError):
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            error = error.get("message", error)
        detail = f": {_one_line(error)}" if error else ""
        raise InputError(f"the LLM at {shown} sent a reply that is not a chat completion{detail}") from None
    if content is None:
        return ""
    if not isinstance(content, str):
        raise InputError(f"the LLM at {shown} sent a reply whose message content is not text")
    return content[:MAX_REPLY_CHARS]
