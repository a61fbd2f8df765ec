import Hummingbird

/// `GET /`: a self-contained chat page (no network beyond this server). Replies stream from
/// `/v1/chat/completions`; model text is only ever put in the page as text (`textContent`), with
/// code blocks, inline code and bold rebuilt as elements, so a reply cannot inject HTML.
/// Conversations stay in the browser's localStorage; an API key, when the server asks for one,
/// only in memory. A model without a chat template gets plain completion instead.
enum ChatPage {
    static func response() -> Response {
        Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    static let html = #"""
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Peregrine</title>
<style>
:root { font-family: system-ui, sans-serif; color: #1d2430; background: #f6f7f9; }
body { margin: 0; display: flex; height: 100vh; }
aside { width: 250px; background: #fff; border-right: 1px solid #dde1e7; padding: 12px; overflow-y: auto; box-sizing: border-box; }
main { flex: 1; display: flex; flex-direction: column; min-width: 0; }
header { padding: 10px 16px; border-bottom: 1px solid #dde1e7; background: #fff; display: flex; gap: 12px; align-items: center; }
header h1 { font-size: 16px; margin: 0; } #model { color: #5b6472; font-size: 13px; }
#notice { display: none; background: #fff6db; border-bottom: 1px solid #f0d98c; padding: 8px 16px; font-size: 14px; }
#messages { flex: 1; overflow-y: auto; padding: 16px; }
.msg { max-width: 820px; margin: 0 auto 12px; padding: 10px 14px; border-radius: 8px; background: #fff; border: 1px solid #e3e6eb; }
.msg.user { background: #e9f1ff; border-color: #c9dcff; }
.msg .role { font-size: 12px; color: #5b6472; margin-bottom: 4px; } .msg .stats { font-size: 12px; color: #7a8391; margin-top: 6px; }
.msg p { margin: 0 0 8px; white-space: pre-wrap; } .msg pre { background: #1d2430; color: #e8ecf2; padding: 10px; border-radius: 6px; overflow-x: auto; }
.msg code { font-family: ui-monospace, monospace; font-size: 13px; } .msg p code { background: #eef0f4; padding: 1px 4px; border-radius: 4px; }
form { display: flex; gap: 8px; padding: 12px 16px; border-top: 1px solid #dde1e7; background: #fff; }
textarea { flex: 1; resize: vertical; min-height: 44px; font: inherit; padding: 8px; }
button { font: inherit; padding: 6px 12px; cursor: pointer; }
label { display: block; font-size: 13px; margin: 8px 0 2px; } input, aside textarea { width: 100%; box-sizing: border-box; }
#conversations div { padding: 4px 6px; cursor: pointer; border-radius: 4px; font-size: 13px; overflow: hidden; white-space: nowrap; text-overflow: ellipsis; }
#conversations div.current { background: #e9f1ff; }
</style></head>
<body>
<aside>
  <button id="new">New chat</button>
  <div id="conversations"></div>
  <label for="system">System prompt</label><textarea id="system" rows="3"></textarea>
  <label for="temperature">Temperature</label><input id="temperature" type="number" step="0.1" min="0" value="0.7">
  <label for="top_p">Top p</label><input id="top_p" type="number" step="0.05" min="0" max="1" value="0.95">
  <label for="max_tokens">Max tokens</label><input id="max_tokens" type="number" min="1" value="512">
  <label><input id="completion" type="checkbox" style="width:auto"> Plain completion (no chat template)</label>
</aside>
<main>
  <header><h1>Peregrine</h1><span id="model"></span></header>
  <div id="notice"></div>
  <div id="messages"></div>
  <form id="form"><textarea id="input" placeholder="Message" rows="2"></textarea>
    <button id="send" type="submit">Send</button><button id="stop" type="button" disabled>Stop</button>
    <button id="regenerate" type="button">Regenerate</button></form>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const store = "peregrine.conversations";
let apiKey = null, controller = null;
let conversations = JSON.parse(localStorage.getItem(store) || "[]");
let current = null;

function save() { localStorage.setItem(store, JSON.stringify(conversations)); }
function setState(state) { document.body.dataset.state = state; $("send").disabled = state === "busy"; $("stop").disabled = state !== "busy"; }
function notice(text) { $("notice").textContent = text; $("notice").style.display = text ? "block" : "none"; }

// Model text as elements: fenced code blocks, paragraphs with inline code and bold; never HTML.
function renderText(target, text) {
  target.replaceChildren();
  const parts = text.split(/```/);
  parts.forEach((part, i) => {
    if (i % 2 === 1) {
      const pre = document.createElement("pre"), code = document.createElement("code");
      code.textContent = part.replace(/^[\w+-]*\n/, "");
      pre.appendChild(code); target.appendChild(pre); return;
    }
    for (const para of part.split(/\n{2,}/)) {
      if (!para.trim()) continue;
      const p = document.createElement("p");
      for (const piece of para.split(/(`[^`\n]+`|\*\*[^*\n]+\*\*)/)) {
        if (!piece) continue;
        let node;
        if (piece.startsWith("`") && piece.endsWith("`") && piece.length > 1) { node = document.createElement("code"); node.textContent = piece.slice(1, -1); }
        else if (piece.startsWith("**") && piece.endsWith("**") && piece.length > 4) { node = document.createElement("strong"); node.textContent = piece.slice(2, -2); }
        else node = document.createTextNode(piece);
        p.appendChild(node);
      }
      target.appendChild(p);
    }
  });
}

function appendMessage(role, text, stats) {
  const div = document.createElement("div"); div.className = "msg " + role;
  const r = document.createElement("div"); r.className = "role"; r.textContent = role;
  const body = document.createElement("div"); body.className = "body"; renderText(body, text);
  const s = document.createElement("div"); s.className = "stats"; s.textContent = stats || "";
  div.append(r, body, s); $("messages").appendChild(div); div.scrollIntoView({block: "end"});
  return {div, body, stats: s};
}

function showConversation() {
  $("messages").replaceChildren();
  for (const m of current.messages) appendMessage(m.role, m.content, m.stats);
  showList();
}

function showList() {
  const list = $("conversations"); list.replaceChildren();
  for (const c of conversations) {
    const d = document.createElement("div"); d.textContent = c.title || "New chat";
    if (c === current) d.className = "current";
    d.onclick = () => { current = c; showConversation(); };
    list.appendChild(d);
  }
}

function newConversation() { current = {title: "", messages: []}; conversations.unshift(current); save(); showConversation(); }

async function post(path, body, signal) {
  for (;;) {
    const headers = {"Content-Type": "application/json"};
    if (apiKey) headers.Authorization = "Bearer " + apiKey;
    const r = await fetch(path, {method: "POST", headers, body: JSON.stringify(body), signal});
    if (r.status !== 401) return r;
    apiKey = prompt("This server needs an API key (kept in this page's memory only):");
    if (!apiKey) throw new Error("no API key");
  }
}

async function reply() {
  const completion = $("completion").checked;
  const params = {stream: true, stream_options: {include_usage: true}, temperature: Number($("temperature").value),
                  top_p: Number($("top_p").value), max_tokens: Number($("max_tokens").value)};
  let path, body;
  if (completion) {
    path = "/v1/completions"; body = {...params, prompt: current.messages.map((m) => m.content).join("\n")};
  } else {
    const system = $("system").value.trim();
    const messages = (system ? [{role: "system", content: system}] : []).concat(current.messages.map((m) => ({role: m.role, content: m.content})));
    path = "/v1/chat/completions"; body = {...params, messages};
  }
  const view = appendMessage("assistant", "");
  const message = {role: "assistant", content: ""};
  controller = new AbortController(); setState("busy");
  const start = performance.now(); let first = null, chunks = 0, usage = null;
  try {
    const r = await post(path, body, controller.signal);
    if (!r.ok) { const e = await r.json(); throw new Error(e.error ? e.error.message : r.statusText); }
    const reader = r.body.getReader(), decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, {stream: true});
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end); buffer = buffer.slice(end + 2);
        if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
        const data = JSON.parse(event.slice(6));
        if (data.error) throw new Error(data.error.message);
        if (data.usage) usage = data.usage;
        const choice = data.choices && data.choices[0];
        const piece = choice ? (completion ? choice.text : (choice.delta && choice.delta.content)) : "";
        if (piece) { if (first === null) first = performance.now(); chunks++; message.content += piece; renderText(view.body, message.content); }
      }
    }
  } catch (e) {
    if (e.name !== "AbortError") { view.stats.textContent = "error: " + e.message; }
  } finally {
    const tokens = usage ? usage.completion_tokens : chunks, now = performance.now();
    if (first !== null) {
      message.stats = `${tokens} tokens, ${(tokens / Math.max(1e-3, (now - first) / 1000)).toFixed(1)} tokens/s, first token after ${(first - start).toFixed(0)} ms`;
      view.stats.textContent = message.stats;
    }
    current.messages.push(message); save(); controller = null; setState("idle");
  }
}

$("form").onsubmit = async (e) => {
  e.preventDefault();
  const text = $("input").value.trim();
  if (!text || document.body.dataset.state === "busy") return;
  $("input").value = "";
  if (!current.title) { current.title = text.slice(0, 40); showList(); }
  current.messages.push({role: "user", content: text}); appendMessage("user", text); save();
  await reply();
};
$("stop").onclick = () => { if (controller) controller.abort(); };
$("regenerate").onclick = async () => {
  if (document.body.dataset.state === "busy") return;
  if (current.messages.length && current.messages[current.messages.length - 1].role === "assistant") current.messages.pop();
  if (!current.messages.length) return;
  save(); showConversation(); await reply();
};
$("new").onclick = newConversation;

(async () => {
  current = conversations[0] || null;
  if (!current) newConversation(); else showConversation();
  try {
    const headers = apiKey ? {Authorization: "Bearer " + apiKey} : {};
    const models = await (await fetch("/v1/models", {headers})).json();
    if (models.data) $("model").textContent = models.data[0].id;
    const probe = await post("/tokenize", {messages: [{role: "user", content: "Hi"}]});
    if (!probe.ok) {
      const e = await probe.json();
      if (e.error && /chat template/.test(e.error.message)) {
        $("completion").checked = true;
        notice("This model has no chat template (a base model): messages are sent as plain completion prompts.");
      }
    }
  } catch (e) { notice("Could not reach the server: " + e.message); }
  setState("idle"); document.body.dataset.ready = "1";
})();
</script>
</body></html>
"""#
}
