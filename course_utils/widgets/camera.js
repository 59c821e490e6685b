// The camera widget's front-end (an anywidget module, see camera.py).
// The camera picture stays in the page: a snapshot is taken and sent to the kernel only when a
// button is clicked. The kernel's answer is drawn on the frozen frame; the live preview returns
// with "Live".

const MESSAGES = {
  insecure: "This page cannot use a camera: the browser only allows it on a secure page " +
    "(https:// or http://localhost). Open JupyterLab at http://localhost:8888 (not the computer's " +
    "name or IP address), or use the upload widget above.",
  NotFoundError: "No camera found: plug one in (or enable it) and run the cell again — or use the upload widget above.",
  OverconstrainedError: "No camera found that can give a picture: plug one in and run the cell again.",
  NotAllowedError: "Camera permission refused: allow the camera for this page (the camera icon in the " +
    "address bar) and run the cell again — or use the upload widget above.",
  SecurityError: "Camera permission refused by the browser's settings: allow the camera for this page and run the cell again.",
  NotReadableError: "The camera is in use by another program (a video call?): close it and run the cell again.",
  AbortError: "The camera stopped before it gave a picture: run the cell again.",
};

const COLORS = { ok: "#1b7f3b", problem: "#b3261e", info: "#444" };

function element(tag, attrs = {}, text = "") {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text) el.textContent = text;
  return el;
}

// Draw the kernel's answer on the frozen frame: a banner with the name (or "unknown") and the
// distance against the threshold.
function drawAnswer(ctx, width, height, reply) {
  const known = reply.kind === "identified" ? reply.known : reply.ok;
  const title = reply.kind === "identified" ? reply.answer
    : reply.kind === "enrolled" ? `enrolled: ${reply.name}` : reply.kind === "forgotten" ? `forgotten: ${reply.name}` : "no answer";
  const detail = reply.kind === "identified"
    ? `distance ${reply.distance.toFixed(3)} ${reply.known ? "≤" : ">"} threshold ${reply.threshold.toFixed(3)}`
    : "";
  const band = Math.round(height * 0.16);
  ctx.fillStyle = "rgba(0, 0, 0, 0.6)";
  ctx.fillRect(0, height - band, width, band);
  ctx.lineWidth = Math.max(4, width / 120);
  ctx.strokeStyle = known ? COLORS.ok : COLORS.problem;
  ctx.strokeRect(ctx.lineWidth / 2, ctx.lineWidth / 2, width - ctx.lineWidth, height - ctx.lineWidth);
  ctx.fillStyle = "white";
  ctx.textBaseline = "middle";
  ctx.font = `bold ${Math.round(band * 0.42)}px sans-serif`;
  ctx.fillText(title, band * 0.3, height - band * (detail ? 0.68 : 0.5));
  if (detail) {
    ctx.font = `${Math.round(band * 0.28)}px sans-serif`;
    ctx.fillText(detail, band * 0.3, height - band * 0.25);
  }
}

export default {
  render({ model, el }) {
    const root = element("div", { class: "cu-camera", "data-camera": "starting", "data-state": "idle" });
    root.style.fontFamily = "sans-serif";
    const video = element("video", { autoplay: "", playsinline: "", muted: "", class: "cu-camera-live" });
    video.muted = true;
    const frame = element("canvas", { class: "cu-camera-frame" });
    for (const view of [video, frame]) {
      view.style.maxWidth = "480px";
      view.style.width = "100%";
      view.style.background = "#222";
    }
    frame.style.display = "none";
    const name = element("input", { type: "text", placeholder: "your name", class: "cu-camera-name" });
    const buttons = {
      enrol: element("button", { class: "cu-camera-enrol jupyter-button mod-success" }, "Enrol"),
      identify: element("button", { class: "cu-camera-identify jupyter-button mod-info" }, "Who is this?"),
      forget: element("button", { class: "cu-camera-forget jupyter-button mod-danger" }, "Forget me"),
      live: element("button", { class: "cu-camera-live-button jupyter-button" }, "Live"),
    };
    const message = element("div", { class: "cu-camera-message", role: "status" });
    const row = element("div");
    row.style.margin = "6px 0";
    row.append(name, buttons.enrol, buttons.identify, buttons.forget, buttons.live);
    root.append(video, frame, row, message);
    el.append(root);

    let stream = null, pending = null, counter = 0;
    const say = (text, tone) => {
      message.textContent = text;
      message.style.color = COLORS[tone] || COLORS.info;
    };
    const setBusy = (busy) => {
      for (const b of [buttons.enrol, buttons.identify, buttons.forget]) b.disabled = busy || (b !== buttons.forget && !stream);
      root.dataset.state = busy ? "waiting" : "idle";
    };
    const cameraIs = (state, text) => {
      root.dataset.camera = state;
      model.set("camera", state);
      model.save_changes();
      if (text) say(text, "problem");
      setBusy(false);
    };
    say(model.get("status"), "info");
    setBusy(false);

    const showLive = () => {
      frame.style.display = "none";
      video.style.display = "";
    };
    buttons.live.addEventListener("click", showLive);

    if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      cameraIs("insecure", MESSAGES.insecure);
    } else {
      navigator.mediaDevices
        .getUserMedia({ video: { width: { ideal: model.get("width") }, height: { ideal: model.get("height") } }, audio: false })
        .then((s) => {
          stream = s;
          video.srcObject = s;
          return video.play().catch(() => {});
        })
        .then(() => cameraIs("live"))
        .catch((err) => {
          const kind = (err && err.name) || "Error";
          cameraIs(kind, MESSAGES[kind] || `The camera could not start (${kind}: ${err && err.message}); run the cell again.`);
        });
    }

    // One snapshot of the live picture as a JPEG data URL, kept on the frame canvas too.
    const snapshot = () => {
      const w = video.videoWidth, h = video.videoHeight;
      if (!stream || !w || !h) return "";
      frame.width = w;
      frame.height = h;
      frame.getContext("2d").drawImage(video, 0, 0, w, h);
      return frame.toDataURL("image/jpeg", 0.92);
    };

    const ask = (action) => {
      if (pending) return;
      const request = { action, name: name.value, id: ++counter };
      if (action !== "forget") {
        request.image = snapshot();
        if (!request.image) {
          say("The camera has not given a picture yet: wait a moment and click again.", "problem");
          return;
        }
        video.style.display = "none";
        frame.style.display = "";
      }
      pending = { id: request.id, action, t0: performance.now() };
      setBusy(true);
      say(action === "enrol" ? "Enrolling…" : action === "identify" ? "Looking…" : "Forgetting…", "info");
      model.send(request);
    };
    buttons.enrol.addEventListener("click", () => ask("enrol"));
    buttons.identify.addEventListener("click", () => ask("identify"));
    buttons.forget.addEventListener("click", () => ask("forget"));

    const onReply = (reply) => {
      if (!reply || !pending || reply.id !== pending.id) return;
      const ms = performance.now() - pending.t0;
      root.dataset.lastMs = ms.toFixed(1);
      root.dataset.lastAction = pending.action;
      root.dataset.answer = reply.answer || "";
      root.dataset.ok = String(reply.ok);
      root.dataset.replies = String(reply.id);
      if (pending.action !== "forget" && frame.width) {
        drawAnswer(frame.getContext("2d"), frame.width, frame.height, reply);
      }
      if (reply.kind === "forgotten") {
        // The frame showed the person: clear it, as the kernel forgot them.
        frame.getContext("2d").clearRect(0, 0, frame.width, frame.height);
        showLive();
      }
      say(reply.text, reply.ok ? "ok" : "problem");
      pending = null;
      setBusy(false);
    };
    model.on("msg:custom", onReply);

    return () => {
      // The widget left the page: turn the camera off (its light too).
      model.off("msg:custom", onReply);
      if (stream) stream.getTracks().forEach((t) => t.stop());
    };
  },
};
