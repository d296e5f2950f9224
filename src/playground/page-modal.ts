/**
 * The playground page's modal overlay: the open view of the person at the keyboard, its input blocks as form controls
 * (text, multiline text, select, checkboxes, the channel), the errors of the last submission under their fields, and
 * Submit / Cancel posted to /view. Spliced into page.ts's style and script; the same rules hold: text nodes only, no
 * backticks or template literals in the script.
 */
export const modalStyle = String.raw`
  .overlay { position: fixed; inset: 0; background: rgba(0,0,0,.45); display: flex; align-items: flex-end; justify-content: center; z-index: 10; }
  .modal { background: var(--bg); width: 100%; max-width: 520px; max-height: 100dvh; overflow-y: auto; border-radius: 10px 10px 0 0;
    padding: 12px 14px calc(12px + env(safe-area-inset-bottom)); }
  .modal h2 { font-size: 18px; margin: 0 0 8px; }
  .modal form.view { display: block; padding: 0; border: 0; }
  .field { margin: 10px 0; }
  .field > label, .field > .label { display: block; font-weight: 700; font-size: 14px; margin-bottom: 4px; }
  .field .opt { font-weight: 400; color: var(--muted); }
  .field input[type=text], .field textarea, .field select { width: 100%; font: inherit; font-size: 16px; padding: 7px 9px; border: 1px solid #aaa;
    border-radius: 6px; background: #fff; }
  .field textarea { min-height: 72px; }
  .field .check { display: flex; gap: 8px; align-items: flex-start; font-size: 15px; }
  .field .hint { font-size: 12px; color: var(--muted); margin-top: 3px; }
  .field .err { font-size: 13px; color: #b00020; margin-top: 3px; }
  .field.bad input, .field.bad textarea, .field.bad select { border-color: #b00020; }
  .modal .foot { display: flex; justify-content: flex-end; gap: 8px; margin-top: 12px; }
`;

export const modalScript = String.raw`
  var views = {};
  var overlay = null;
  function acceptView(item) { views[item.id] = item; showView(); }
  function openView() {
    var open = Object.keys(views).map(function (k) { return views[k]; }).filter(function (v) { return v.open && v.user === state.me; });
    return open[open.length - 1];
  }
  function collect(form) {
    var values = {};
    Array.prototype.slice.call(form.querySelectorAll("[data-block]")).forEach(function (c) {
      var id = c.getAttribute("data-block");
      if (c.type === "checkbox") { values[id] = values[id] || []; if (c.checked) values[id].push(c.value); }
      else values[id] = c.value;
    });
    return values;
  }
  function control(block, keep) {
    var e = block.element || {};
    var id = block.block_id;
    var kept = keep ? keep[id] : undefined;
    var c;
    if (e.type === "plain_text_input") {
      c = el(e.multiline ? "textarea" : "input");
      if (!e.multiline) c.type = "text";
      c.value = kept !== undefined ? kept : (e.initial_value || "");
      if (e.placeholder) c.placeholder = plain(e.placeholder);
    } else if (e.type === "static_select" || e.type === "conversations_select") {
      c = el("select");
      var none = el("option"); none.value = ""; none.textContent = "\u2014"; c.appendChild(none);
      var options = e.type === "static_select" ? (e.options || []).map(function (o) { return { value: o.value, text: plain(o.text) }; })
        : [{ value: openView().channel.id, text: "#" + openView().channel.name }];
      var initial = e.type === "static_select" ? (e.initial_option ? e.initial_option.value : "")
        : (e.initial_conversation || (e.default_to_current_conversation ? openView().channel.id : ""));
      options.forEach(function (o) { var op = el("option"); op.value = o.value; op.textContent = o.text; c.appendChild(op); });
      c.value = kept !== undefined ? kept : initial;
    } else if (e.type === "checkboxes") {
      c = el("div");
      var on = kept !== undefined ? kept : (e.initial_options || []).map(function (o) { return o.value; });
      (e.options || []).forEach(function (o) {
        var row = el("label", "check"); var box = el("input"); box.type = "checkbox"; box.value = o.value;
        box.checked = on.indexOf(o.value) >= 0; box.setAttribute("data-block", id);
        row.appendChild(box); row.appendChild(txt(plain(o.text))); c.appendChild(row);
      });
      return c;
    } else {
      c = el("div", "hint"); c.textContent = "(" + e.type + " is not shown in the playground)";
      return c;
    }
    c.setAttribute("data-block", id);
    c.id = "view-" + id;
    return c;
  }
  function showView() {
    var v = openView();
    var tag = v ? v.id + "/" + JSON.stringify(v.errors) + "/" + v.open : "";
    if (overlay && overlay.getAttribute("data-view") === tag) return;
    var keep = overlay && v && overlay.getAttribute("data-id") === v.id ? collect(overlay.querySelector("form")) : undefined;
    if (overlay) { overlay.remove(); overlay = null; }
    if (!v) return;
    overlay = el("div", "overlay"); overlay.setAttribute("data-view", tag); overlay.setAttribute("data-id", v.id);
    var box = el("div", "modal"); box.setAttribute("role", "dialog"); box.setAttribute("aria-modal", "true"); box.setAttribute("aria-label", v.title);
    var h = el("h2"); h.textContent = v.title; box.appendChild(h);
    var form = el("form"); form.className = "view"; form.setAttribute("novalidate", "");
    (v.blocks || []).forEach(function (block) {
      if (block.type === "input") {
        var f = el("div", "field" + (v.errors[block.block_id] ? " bad" : ""));
        var multi = block.element && block.element.type === "checkboxes";
        var l = el(multi ? "div" : "label", multi ? "label" : ""); l.textContent = plain(block.label);
        if (!multi) l.setAttribute("for", "view-" + block.block_id);
        if (block.optional) { var o = el("span", "opt"); o.textContent = " (optional)"; l.appendChild(o); }
        f.appendChild(l); f.appendChild(control(block, keep));
        if (block.hint) { var hint = el("div", "hint"); hint.textContent = plain(block.hint); f.appendChild(hint); }
        if (v.errors[block.block_id]) { var err = el("div", "err"); err.setAttribute("role", "alert"); err.textContent = v.errors[block.block_id]; f.appendChild(err); }
        form.appendChild(f);
      } else renderBlocks([block], { kind: "view" }, form);
    });
    var foot = el("div", "foot");
    var cancel = el("button", "btn"); cancel.type = "button"; cancel.textContent = v.close;
    var submit = el("button", "btn primary"); submit.type = "submit"; submit.textContent = v.submit;
    foot.appendChild(cancel); foot.appendChild(submit); form.appendChild(foot);
    cancel.addEventListener("click", function () { send("/view", { viewId: v.id, user: state.me, close: true }); });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      submit.disabled = true;
      send("/view", { viewId: v.id, user: state.me, values: collect(form) }).then(function () { submit.disabled = false; });
    });
    box.appendChild(form); overlay.appendChild(box); document.body.appendChild(overlay);
  }
`;
