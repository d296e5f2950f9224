/**
 * The playground's one page: inline CSS and a small vanilla script, no build step. It renders the emulator's channel
 * from /events (Server-Sent Events) and sends what is typed or tapped to /command and /action. Everything from the
 * server is put into the DOM as text nodes (never innerHTML), so message text cannot inject markup.
 * String.raw keeps the script byte-for-byte; it therefore avoids backticks and template literals (a backtick is
 * written "\x60"). The modal overlay's style and script are page-modal.ts's.
 */

import { homePane, homeScript, homeStyle, homeTabs } from "./page-home.ts";
import { modalScript, modalStyle } from "./page-modal.ts";

export const playgroundPage = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>berth playground</title>
<style>
  :root { --fg: #1d1c1d; --muted: #616061; --line: #e2e2e2; --accent: #1264a3; --bg: #fff; --soft: #f8f8f8; }
  * { box-sizing: border-box; }
  html, body { margin: 0; height: 100%; }
  body { font: 15px/1.45 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: var(--fg); background: var(--bg);
    display: flex; flex-direction: column; height: 100dvh; }
  header { display: flex; flex-wrap: wrap; gap: 6px 12px; align-items: center; padding: 8px 12px; border-bottom: 1px solid var(--line);
    background: #3f0e40; color: #fff; }
  header .chan { font-weight: 700; font-size: 16px; flex: 1 1 auto; }
  header label { font-size: 13px; }
  header select { font: inherit; font-size: 14px; max-width: 60vw; }
  #conn { font-size: 12px; opacity: .8; }
  #log { flex: 1 1 auto; overflow-y: auto; padding: 8px 12px 16px; }
  .intro { color: var(--muted); font-size: 13px; border: 1px dashed var(--line); border-radius: 6px; padding: 8px 10px; margin-bottom: 8px; }
  .intro code { cursor: pointer; }
  .post { border-bottom: 1px solid #f1f1f1; padding: 6px 0; }
  .msg { padding: 2px 0; overflow-wrap: anywhere; }
  .msg .head { font-size: 13px; color: var(--muted); }
  .msg .head strong { color: var(--fg); font-size: 14px; margin-right: 6px; }
  .badge { font-size: 10px; background: #ddd; color: #444; border-radius: 3px; padding: 0 3px; margin-right: 6px; vertical-align: 1px; }
  .ephemeral { background: #f4f8fb; border-left: 3px solid var(--accent); padding: 4px 8px; border-radius: 4px; }
  .only { font-size: 12px; color: var(--muted); }
  .section { margin: 2px 0; white-space: pre-wrap; }
  .context { font-size: 12px; color: var(--muted); white-space: pre-wrap; }
  .context span + span::before { content: " · "; }
  .actions { display: flex; flex-wrap: wrap; gap: 6px; margin: 6px 0 2px; }
  .menu { font: inherit; font-size: 14px; min-height: 36px; max-width: 100%; border-radius: 6px; border: 1px solid #bbb; }
  .btn { font: inherit; font-size: 14px; font-weight: 600; padding: 6px 14px; min-height: 36px; border-radius: 6px; border: 1px solid #bbb;
    background: #fff; color: var(--fg); cursor: pointer; }
  .btn.primary { background: #007a5a; border-color: #007a5a; color: #fff; }
  .btn.danger { background: #fff; border-color: #e01e5a; color: #e01e5a; }
  .btn:disabled { opacity: .5; }
  pre { background: var(--soft); border: 1px solid var(--line); border-radius: 4px; padding: 6px 8px; margin: 4px 0; font-size: 12px;
    line-height: 1.35; overflow-x: auto; white-space: pre; }
  code { background: var(--soft); border: 1px solid var(--line); border-radius: 3px; padding: 0 3px; font-size: 12.5px; color: #c01343; }
  pre code { border: 0; padding: 0; color: inherit; }
  pre.rich { white-space: pre-wrap; overflow-wrap: anywhere; }
  .rich blockquote { margin: 4px 0; padding-left: 8px; border-left: 3px solid var(--line); }
  .rich ul, .rich ol { margin: 2px 0; padding-left: 20px; }
  .mention { background: #e8f5fa; color: var(--accent); border-radius: 3px; padding: 0 2px; }
  .replies { font: inherit; font-size: 13px; color: var(--accent); background: none; border: 0; padding: 2px 0; cursor: pointer; font-weight: 600; }
  .thread { margin: 2px 0 4px 10px; padding-left: 10px; border-left: 2px solid var(--line); max-height: 55vh; overflow-y: auto; }
  .thread.collapsed { display: none; }
  .file { display: inline-block; margin: 4px 0; padding: 4px 8px; border: 1px solid var(--line); border-radius: 6px; color: var(--accent);
    text-decoration: none; font-size: 13px; }
  .edited { font-size: 11px; color: var(--muted); }
  form.reply { padding: 2px 0 6px 22px; border: 0; background: none; }
  form.reply input { flex: 1 1 auto; min-width: 0; font: inherit; font-size: 16px; padding: 4px 8px; border: 1px solid #ccc; border-radius: 6px; }
  form { display: flex; gap: 6px; padding: 8px 12px calc(8px + env(safe-area-inset-bottom)); border-top: 1px solid var(--line); background: var(--bg); }
  #text { flex: 1 1 auto; min-width: 0; font: inherit; font-size: 16px; padding: 8px 10px; border: 1px solid #aaa; border-radius: 6px; }
  #send { font: inherit; font-weight: 600; padding: 8px 14px; border-radius: 6px; border: 0; background: #007a5a; color: #fff; }
  #error { color: #b00020; font-size: 13px; padding: 0 12px; }
  #error:empty { display: none; }
${modalStyle}
${homeStyle}</style>
</head>
<body>
<header>
  <div class="chan"># <span id="chan">channel</span> <span class="badge">playground</span></div>
  ${homeTabs}
  <label>Acting as <select id="user" aria-label="Acting as"></select></label>
  <span id="conn" role="status">connecting…</span>
</header>
<main id="log" aria-live="polite">
  <div class="intro" id="intro">
    berth's local playground: this page stands in for one Slack channel, and berth runs for real against your local
    Docker engine. Try <code>/berth help</code>, <code>/berth run busybox:1 sh -c 'echo hello; date'</code>,
    <code>/berth ps -a</code>; in a job's thread, reply <code>@berth stop</code> or <code>@berth logs</code>. Switch "Acting as" to the second person to approve a request
    (<code>/berth rm</code> needs one). Connect a real workspace: README, "From zero to berth in your workspace".
  </div>
</main>
${homePane}
<div id="error" role="alert"></div>
<form id="composer" autocomplete="off">
  <input id="text" name="text" placeholder="/berth help" aria-label="Message" enterkeyhint="send">
  <button id="send" type="submit">Send</button>
</form>
<script>
(function () {
  "use strict";
  var BT = "\x60";
  var EMOJI = { white_check_mark: "\u2705", x: "\u274c", black_square_for_stop: "\u23f9\ufe0f", arrow_forward: "\u25b6\ufe0f",
    hourglass_flowing_sand: "\u23f3", hourglass: "\u231b", question: "\u2753", raised_hand: "\u270b", ballot_box_with_check: "\u2611\ufe0f",
    rotating_light: "\ud83d\udea8", alarm_clock: "\u23f0", warning: "\u26a0\ufe0f", no_entry: "\u26d4", memory: "\ud83d\udcdd",
    white_circle: "\u26aa", red_circle: "\ud83d\udd34", large_green_circle: "\ud83d\udfe2", wastebasket: "\ud83d\uddd1\ufe0f",
    scissors: "\u2702\ufe0f", lock: "\ud83d\udd12", information_source: "\u2139\ufe0f", fast_forward: "\u23e9", tada: "\ud83c\udf89" };
  var state = { me: "", users: {}, people: [], items: {}, files: {}, collapsed: {} };
  var log = document.getElementById("log");
  var select = document.getElementById("user");
  var conn = document.getElementById("conn");
  var errorBox = document.getElementById("error");
${modalScript}

  function el(tag, cls) { var e = document.createElement(tag); if (cls) e.className = cls; return e; }
  function txt(s) { return document.createTextNode(s); }
  function decode(s) { return s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&"); }
  function emoji(s) { return s.replace(/:([a-z0-9_+-]+):/g, function (m, n) { return EMOJI[n] || m; }); }
  function nameOf(id) { return state.users[id] || id; }

  // Calls onMatch for each match of re and onText for the text between matches, appending to into.
  function split(text, re, onMatch, onText, into) {
    var last = 0, m;
    re.lastIndex = 0;
    while ((m = re.exec(text)) !== null) {
      if (m.index > last) onText(text.slice(last, m.index), into);
      into.appendChild(onMatch(m));
      last = re.lastIndex;
      if (m[0].length === 0) re.lastIndex++;
    }
    if (last < text.length) onText(text.slice(last), into);
  }

  // Slack mrkdwn: code fences, inline code, <@U…>/<#C…|name>/<http…|label> markup, *bold*, _italic_, ~strike~.
  function mrkdwn(text, into) {
    var fence = new RegExp(BT + BT + BT + "([\\s\\S]*?)" + BT + BT + BT, "g");
    split(text, fence, function (m) {
      var pre = el("pre");
      pre.textContent = decode(m[1].replace(/^\n/, "").replace(/\n$/, ""));
      return pre;
    }, inline, into);
  }
  function inline(text, into) {
    var code = new RegExp(BT + "([^" + BT + "\\n]+)" + BT, "g");
    split(text, code, function (m) { var c = el("code"); c.textContent = decode(m[1]); return c; }, angles, into);
  }
  function angles(text, into) {
    split(text, /<([^<>]+)>/g, function (m) {
      var parts = m[1].split("|"), target = parts[0], label = parts.slice(1).join("|");
      var s;
      if (target[0] === "@") { s = el("span", "mention"); s.textContent = "@" + (label || nameOf(target.slice(1))); return s; }
      if (target[0] === "#") { s = el("span", "mention"); s.textContent = "#" + (label || target.slice(1)); return s; }
      if (target[0] === "!") { s = el("span", "mention"); s.textContent = "@" + (label || target.slice(1).split("^")[0]); return s; }
      if (/^(https?:\/\/|mailto:)/.test(target)) {
        var a = el("a"); a.href = decode(target); a.target = "_blank"; a.rel = "noopener noreferrer"; a.textContent = decode(label || target);
        return a;
      }
      return txt(decode(m[0]));
    }, styled, into);
  }
  function styled(text, into) {
    var re = /(?<![\w*])\*([^*\n]+)\*(?![\w*])|(?<![\w_])_([^_\n]+)_(?![\w_])|(?<![\w~])~([^~\n]+)~(?![\w~])/g;
    split(text, re, function (m) {
      var e = el(m[1] !== undefined ? "strong" : m[2] !== undefined ? "em" : "s");
      e.textContent = emoji(decode(m[1] || m[2] || m[3]));
      return e;
    }, function (t, target) { target.appendChild(txt(emoji(decode(t)))); }, into);
  }
  function textObject(obj, into) {
    if (!obj || typeof obj.text !== "string") return;
    if (obj.type === "mrkdwn") mrkdwn(obj.text, into); else into.appendChild(txt(emoji(obj.text)));
  }
  function plain(obj) { return obj && typeof obj.text === "string" ? decode(obj.text) : ""; }

  function button(e, block, item) {
    var b = el("button", "btn" + (e.style ? " " + e.style : ""));
    b.type = "button";
    b.textContent = plain(e.text);
    b.setAttribute("data-action-id", e.action_id || "");
    b.addEventListener("click", function () {
      if (e.confirm && !window.confirm(plain(e.confirm.title) + "\n\n" + plain(e.confirm.text))) return;
      b.disabled = true;
      var tap = { actionId: e.action_id, value: e.value, blockId: block.block_id, user: state.me };
      if (item.kind !== "home") tap.messageTs = item.ts;
      send(item.kind === "home" ? "/home-action" : "/action", tap).then(function () { b.disabled = false; });
    });
    return b;
  }

  // A static select, as Slack's phone apps show it: a list to pick from; picking sends the option's value.
  function menu(e, block, item) {
    var s = el("select", "menu");
    s.setAttribute("data-action-id", e.action_id || "");
    var first = el("option");
    first.textContent = plain(e.placeholder) || "Choose";
    first.value = "";
    first.disabled = true;
    first.selected = true;
    s.appendChild(first);
    (e.options || []).forEach(function (o) {
      var opt = el("option");
      opt.value = o.value;
      opt.textContent = plain(o.text);
      s.appendChild(opt);
    });
    s.addEventListener("change", function () {
      if (!s.value) return;
      s.disabled = true;
      var tap = { actionId: e.action_id, value: s.value, blockId: block.block_id, user: state.me };
      if (item.kind !== "home") tap.messageTs = item.ts;
      send(item.kind === "home" ? "/home-action" : "/action", tap).then(function () { s.disabled = false; });
    });
    return s;
  }

  // Slack's rich_text: its text elements are literal (nothing in them is parsed); mentions and links are elements.
  // Preformatted text is shown as Slack's phone apps show it: monospace, wrapped to the screen's width.
  function richObject(r) {
    var d;
    if (r.type === "rich_text_preformatted") d = el("pre", "rich");
    else if (r.type === "rich_text_quote") d = el("blockquote");
    else if (r.type === "rich_text_list") d = el(r.style === "ordered" ? "ol" : "ul");
    else d = el("div");
    (r.elements || []).forEach(function (e) {
      if (r.type === "rich_text_list") { var li = el("li"); li.appendChild(richObject(e)); d.appendChild(li); } else d.appendChild(richInline(e));
    });
    return d;
  }
  function richInline(e) {
    var s;
    if (e.type === "link") {
      s = el("a"); s.href = e.url; s.target = "_blank"; s.rel = "noopener noreferrer"; s.textContent = e.text || e.url;
    } else if (e.type === "user" || e.type === "usergroup" || e.type === "channel" || e.type === "broadcast") {
      s = el("span", "mention");
      s.textContent = e.type === "user" ? "@" + nameOf(e.user_id) : e.type === "channel" ? "#" + e.channel_id
        : "@" + (e.range || e.usergroup_id);
    } else if (e.type === "emoji") {
      s = txt(EMOJI[e.name] || ":" + e.name + ":");
    } else {
      var st = e.style || {};
      s = el(st.code ? "code" : st.bold ? "strong" : st.italic ? "em" : st.strike ? "s" : "span");
      s.textContent = typeof e.text === "string" ? e.text : "";
    }
    return s;
  }

  function renderBlocks(blocks, item, into) {
    blocks.forEach(function (block) {
      var d;
      if (block.type === "section") {
        d = el("div", "section");
        textObject(block.text, d);
        (block.fields || []).forEach(function (f) { var s = el("div"); textObject(f, s); d.appendChild(s); });
        if (block.accessory && block.accessory.type === "button") d.appendChild(button(block.accessory, block, item));
      } else if (block.type === "context") {
        d = el("div", "context");
        (block.elements || []).forEach(function (c) { var s = el("span"); textObject(c, s); d.appendChild(s); });
      } else if (block.type === "actions") {
        d = el("div", "actions");
        (block.elements || []).forEach(function (c) {
          if (c.type === "button") d.appendChild(button(c, block, item));
          else if (c.type === "static_select") d.appendChild(menu(c, block, item));
        });
      } else if (block.type === "header") {
        d = el("h3"); d.textContent = plain(block.text);
      } else if (block.type === "divider") {
        d = el("hr");
      } else if (block.type === "rich_text") {
        d = el("div", "rich");
        (block.elements || []).forEach(function (r) { d.appendChild(richObject(r)); });
      } else {
        return;
      }
      into.appendChild(d);
    });
  }

  function isReply(item) { return item.thread_ts && item.thread_ts !== item.ts && !item.broadcast; }
  function visible(item) { return !item.deleted && (item.kind !== "ephemeral" || item.user === state.me); }
  function domId(item) { return (item.kind === "ephemeral" ? "e-" : "m-") + item.ts; }

  function renderItem(item) {
    var d = el("div", "msg" + (item.kind === "ephemeral" ? " ephemeral" : ""));
    d.id = domId(item);
    d.setAttribute("data-ts", item.ts);
    var head = el("div", "head");
    var who = el("strong");
    var bot = item.kind === "ephemeral" || item.bot;
    who.textContent = bot ? "berth" : nameOf(item.user);
    head.appendChild(who);
    if (bot) { var badge = el("span", "badge"); badge.textContent = "APP"; head.appendChild(badge); }
    var when = new Date(Number(item.ts.split(".")[0]) * 1000);
    head.appendChild(txt(isNaN(when.getTime()) ? "" : when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })));
    d.appendChild(head);
    if (item.kind === "ephemeral") { var only = el("div", "only"); only.textContent = "Only visible to you"; d.appendChild(only); }
    var body = el("div", "body");
    if (Array.isArray(item.blocks) && item.blocks.length) renderBlocks(item.blocks, item, body); else mrkdwn(item.text || "", body);
    d.appendChild(body);
    (item.files || []).forEach(function (f) {
      var a = el("a", "file");
      a.href = "/files/" + encodeURIComponent(f.id);
      a.setAttribute("download", f.name || "file.txt");
      var known = state.files[f.id];
      a.textContent = "\ud83d\udcc4 " + (f.title || f.name) + (known ? " (" + Math.max(1, Math.round(known.length / 1024)) + " KB)" : "");
      d.appendChild(a);
    });
    if (item.edited) { var ed = el("span", "edited"); ed.textContent = " (edited)"; body.appendChild(ed); }
    if (item.kind === "message" && !isReply(item) && item.reply_count > 0) {
      var r = el("button", "replies");
      r.type = "button";
      r.textContent = (state.collapsed[item.ts] ? "Show " : "Hide ") + item.reply_count + (item.reply_count === 1 ? " reply" : " replies");
      r.addEventListener("click", function () {
        state.collapsed[item.ts] = !state.collapsed[item.ts];
        var t = document.getElementById("t-" + item.ts);
        if (t) t.classList.toggle("collapsed", !!state.collapsed[item.ts]);
        place(item);
      });
      d.appendChild(r);
    }
    return d;
  }

  function insertSorted(parent, node, ts) {
    var children = parent.children;
    for (var i = children.length - 1; i >= 0; i--) {
      var other = children[i].getAttribute("data-ts");
      if (other !== null && other <= ts) { parent.insertBefore(node, children[i].nextSibling); return; }
      if (other === null) { parent.insertBefore(node, children[i].nextSibling); return; }
    }
    parent.insertBefore(node, parent.firstChild);
  }
  function nearBottom(e) { return e.scrollHeight - e.scrollTop - e.clientHeight < 80; }

  function place(item) {
    var old = document.getElementById(domId(item));
    if (!visible(item)) {
      if (old) { var post = old.parentNode && old.parentNode.classList.contains("post") ? old.parentNode : old; post.remove(); }
      return;
    }
    var node = renderItem(item);
    if (old) { old.replaceWith(node); return; }
    var thread = isReply(item) ? document.getElementById("t-" + item.thread_ts) : null;
    var container = thread || log;
    var stick = nearBottom(container) || (thread && nearBottom(log));
    if (thread) {
      insertSorted(thread, node, item.ts);
    } else {
      var p = el("div", "post");
      p.setAttribute("data-ts", item.ts);
      p.appendChild(node);
      var t = el("div", "thread" + (state.collapsed[item.ts] ? " collapsed" : ""));
      t.id = "t-" + item.ts;
      p.appendChild(t);
      if (item.bot) p.appendChild(replyBox(item.ts));
      insertSorted(log, p, item.ts);
    }
    if (stick) { container.scrollTop = container.scrollHeight; if (thread) log.scrollTop = log.scrollHeight; }
  }

  // A reply in a job card's thread, as a person writes one in Slack: "@berth stop" acts on that job's container.
  function replyBox(ts) {
    var f = el("form", "reply");
    f.setAttribute("autocomplete", "off");
    var input = el("input");
    input.placeholder = "Reply in thread, e.g. @berth stop";
    input.setAttribute("aria-label", "Reply in thread");
    input.setAttribute("enterkeyhint", "send");
    f.appendChild(input);
    f.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var text = input.value.trim();
      if (!text) return;
      send("/command", { text: text, user: state.me, threadTs: ts }).then(function (ok) { if (ok && input.value.trim() === text) input.value = ""; });
    });
    return f;
  }

  function accept(item) {
    if (item.kind === "view") return acceptView(item);
    if (item.kind === "home") return acceptHome(item);
    if (item.kind === "file") {
      state.files[item.id] = item;
      return;
    }
    state.items[domId(item)] = item;
    place(item);
  }

  function rebuild() {
    Array.prototype.slice.call(log.querySelectorAll(".post")).forEach(function (p) { p.remove(); });
    Object.keys(state.items).map(function (k) { return state.items[k]; })
      .sort(function (a, b) { return a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0; })
      .forEach(place);
    log.scrollTop = log.scrollHeight;
  }

  function showError(message) { errorBox.textContent = message || ""; }

  function send(path, body) {
    showError("");
    return fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
      .then(function (res) {
        return res.json().catch(function () { return {}; }).then(function (data) {
          if (!res.ok) showError(data.error || ("The playground answered " + res.status + "."));
          else if (data.ok === false) showError("berth answered HTTP " + data.status + ".");
          return res.ok;
        });
      })
      .catch(function () { showError("The playground is not answering. Is npm start still running?"); return false; });
  }

  select.addEventListener("change", function () {
    state.me = select.value;
    try { localStorage.setItem("berth-playground-user", state.me); } catch (e) { /* private mode */ }
    rebuild();
    showView();
  });

  document.getElementById("composer").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var input = document.getElementById("text");
    var text = input.value.trim();
    if (!text) return;
    send("/command", { text: text, user: state.me }).then(function (ok) { if (ok && input.value.trim() === text) input.value = ""; });
  });
  document.getElementById("intro").addEventListener("click", function (ev) {
    if (ev.target && ev.target.tagName === "CODE") { var input = document.getElementById("text"); input.value = ev.target.textContent; input.focus(); }
  });

${homeScript}
  var events = new EventSource("/events");
  events.addEventListener("state", function (ev) {
    var s = JSON.parse(ev.data);
    state.users = s.users;
    state.people = s.people;
    state.items = {};
    state.files = {};
    document.getElementById("chan").textContent = s.channel;
    var saved = "";
    try { saved = localStorage.getItem("berth-playground-user") || ""; } catch (e) { /* private mode */ }
    var keep = state.me || saved;
    select.textContent = "";
    s.people.forEach(function (p) {
      var o = el("option"); o.value = p.id; o.textContent = p.name + " (" + p.role + ")"; select.appendChild(o);
    });
    state.me = s.people.some(function (p) { return p.id === keep; }) ? keep : (s.people[0] ? s.people[0].id : "");
    select.value = state.me;
    views = {};
    s.items.forEach(function (item) {
      if (item.kind === "home") acceptHome(item);
      else if (item.kind === "file") state.files[item.id] = item;
      else if (item.kind === "view") views[item.id] = item;
      else state.items[domId(item)] = item;
    });
    rebuild();
    showView();
    conn.textContent = "live";
    document.body.setAttribute("data-ready", "1");
  });
  events.addEventListener("items", function (ev) { JSON.parse(ev.data).forEach(accept); });
  events.addEventListener("error", function () { conn.textContent = "reconnecting…"; document.body.removeAttribute("data-ready"); });
})();
</script>
</body>
</html>
`;
