// dagrag console: progressive enhancement of server-rendered pages (every form also works without this file).
"use strict";
(function () {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  const $ = (sel) => document.querySelector(sel);
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; };

  async function errorOf(response) {
    try { return (await response.json()).error || response.statusText; } catch (e) { return response.status + " " + response.statusText; }
  }

  // --- the reviewer's name, remembered in this browser -----------------------------------
  const saved = localStorage.getItem("dagrag.reviewer");
  document.querySelectorAll(".reviewer, .by-field").forEach((input) => { if (saved) input.value = saved; });
  document.querySelectorAll(".reviewer").forEach((input) => input.addEventListener("input", () => {
    localStorage.setItem("dagrag.reviewer", input.value);
    document.querySelectorAll(".by-field").forEach((f) => { f.value = input.value; });
  }));

  // --- Ask: stream progress over server-sent events ----------------------------------------
  const askForm = $("#ask-form");
  if (askForm) askForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const question = askForm.question.value.trim();
    if (!question) return;
    const button = $("#ask-button"), progress = $("#progress"), nodes = $("#live-nodes"), result = $("#result");
    button.disabled = true; progress.innerHTML = ""; nodes.innerHTML = ""; result.innerHTML = "";
    progress.hidden = false; nodes.hidden = false;
    const oldToggle = $("#show-steps"); if (oldToggle) oldToggle.remove();
    $("#live").hidden = false;
    document.querySelectorAll("main > .error").forEach((e) => e.remove());
    const showError = (text) => { const p = el("p", "error", text); p.setAttribute("role", "alert"); result.appendChild(p); };
    try {
      const response = await fetch("/api/ask/stream", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "text/event-stream", "X-CSRF-Token": csrf() },
        body: JSON.stringify({ question: question, as_of: askForm.as_of.value || null }),
      });
      if (!response.ok) { showError(await errorOf(response)); return; }
      const reader = response.body.getReader(), decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const frame = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
          let name = "message", data = "";
          frame.split("\n").forEach((line) => {
            if (line.startsWith("event: ")) name = line.slice(7);
            else if (line.startsWith("data: ")) data += line.slice(6);
          });
          handle(name, data ? JSON.parse(data) : {});
        }
      }
    } catch (e) {
      showError("the connection to the server was lost: " + e);
    } finally {
      button.disabled = false;
    }

    function collapse(steps) {  // the answer and its DAG take the place of the live view; the steps stay one click away
      progress.hidden = true; nodes.hidden = true;
      const toggle = el("button", "link", "show the " + steps + " progress steps");
      toggle.type = "button";
      toggle.id = "show-steps";
      toggle.addEventListener("click", () => { progress.hidden = !progress.hidden; });
      $("#live").appendChild(toggle);
    }

    function handle(name, data) {
      if (name === "step") {
        const li = el("li", "step step-" + data.kind, data.message);
        progress.appendChild(li);
        if (data.kind === "node_start" || data.kind === "node_done") {
          let chip = document.getElementById("live-node-" + data.node_id);
          if (!chip) { chip = el("li"); chip.id = "live-node-" + data.node_id; nodes.appendChild(chip); }
          chip.textContent = data.message;
          chip.className = data.kind === "node_done" ? "done" : "running";
        }
      } else if (name === "done") {
        result.innerHTML = data.html || "";
        const li = el("li", "step step-done", "done");
        progress.appendChild(li);
        collapse(progress.children.length);
      } else if (name === "error") {
        showError(data.error);
      }
    }
  });

  // --- Documents: upload and ingest with a progress bar ---------------------------------------
  const box = $("#ingest-progress"), bar = $("#ingest-bar"), label = $("#ingest-label"), outcome = $("#ingest-result");

  function pollJob(job) {
    label.textContent = "ingesting: embedding passages and checking for conflicts…";
    const tick = async () => {
      const response = await fetch("/api/jobs/" + job.job_id, { credentials: "same-origin" });
      if (!response.ok) { outcome.textContent = await errorOf(response); return; }
      const j = await response.json();
      if (j.total) { bar.max = j.total; bar.value = j.done; label.textContent = "ingesting: " + j.done + " of " + j.total + " passages"; }
      if (j.state === "running") { setTimeout(tick, 400); return; }
      bar.max = 1; bar.value = 1;
      if (j.state === "failed") { label.textContent = "ingest failed"; outcome.className = "error"; outcome.textContent = j.error; return; }
      label.textContent = "done";
      let text = j.added.length + " added, " + j.updated.length + " updated, " + j.unchanged.length + " unchanged, " + j.failed.length + " failed";
      if (j.reviews.length) text += "; " + j.reviews.length + " conflict(s) flagged for review";
      j.failed.forEach((f) => { text += " — " + f[1]; });
      outcome.textContent = text;
      outcome.className = j.failed.length ? "error" : "flash";
      if (!j.failed.length) setTimeout(() => { location.href = "/documents?msg=" + encodeURIComponent(text); }, 900);
    };
    tick();
  }

  const uploadForm = $("#upload-form");
  if (uploadForm) uploadForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const input = uploadForm.files, limit = Number(input.dataset.maxBytes);
    if (!input.files.length) return;
    box.hidden = false; outcome.textContent = ""; outcome.className = "";
    const tooBig = Array.from(input.files).filter((f) => f.size > limit);
    if (tooBig.length) { outcome.className = "error"; outcome.textContent = tooBig[0].name + " is over the upload limit of " + (limit / 1048576) + " MB"; return; }
    const data = new FormData();
    Array.from(input.files).forEach((f) => data.append("files", f));
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/documents/upload");
    xhr.setRequestHeader("X-CSRF-Token", csrf());
    label.textContent = "uploading…";
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) { bar.max = e.total; bar.value = e.loaded; } };
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      if (xhr.status !== 200) { outcome.className = "error"; outcome.textContent = body.error || xhr.statusText; return; }
      pollJob(body);
    };
    xhr.onerror = () => { outcome.className = "error"; outcome.textContent = "upload failed: the server could not be reached"; };
    xhr.send(data);
  });

  const pathForm = $("#path-form");
  if (pathForm) pathForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    box.hidden = false; outcome.textContent = ""; outcome.className = ""; bar.removeAttribute("value");
    const response = await fetch("/api/ingest", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify({ paths: [pathForm.path.value.trim()], wait: false }),
    });
    if (!response.ok) { outcome.className = "error"; outcome.textContent = await errorOf(response); return; }
    pollJob(await response.json());
  });

  document.querySelectorAll("form.remove").forEach((form) => form.addEventListener("submit", (event) => {
    if (!confirm("Remove " + form.dataset.title + " and all its versions?")) event.preventDefault();
  }));
})();
