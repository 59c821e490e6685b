// The threshold explorer's front-end (an anywidget module, see explorer_js.py).
// Everything a slider move changes is computed here, in the browser: counts and rates at τ, the
// ROC operating point and the pairs nearest τ. The rule is course_utils.metrics': a pair is
// accepted as "same person" when distance <= τ (ties accepted). The distances arrive as float64,
// so every comparison is the one Python makes.

const W = 1000;                                  // canvas size in CSS pixels (no strip: H_PLOTS)
const H_PLOTS = 300, H_STRIP = 190;
const HIST = { x: 52, y: 46, w: 470, h: 210 };  // plot boxes in CSS pixels
const ROC = { x: 570, y: 46, w: 200, h: 210 };
const TABLE_X = 800;
const BINS = 50;
const MARKS = ["square", "triangle", "diamond"];

function bytesOf(value) {
  // anywidget hands bytes traitlets over as a DataView (live) or an ArrayBuffer (embedded pages).
  if (value instanceof DataView) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return new Uint8Array(0);
}

const short = (x) => (Number.isFinite(x) ? String(Number(x.toPrecision(4))) : String(x));
const percent = (x) => (Number.isFinite(x) ? (100 * x).toFixed(1) + " %" : "—");

// The pairs sorted once by (distance, index): a move is then a binary search.
export function prepare(distances, same) {
  const m = distances.length;
  const order = new Uint32Array(m).map((_, k) => k);
  order.sort((a, b) => distances[a] - distances[b] || a - b);
  const sorted = new Float64Array(m), sameBefore = new Int32Array(m + 1);
  for (let k = 0; k < m; k++) {
    sorted[k] = distances[order[k]];
    sameBefore[k + 1] = sameBefore[k] + (same[order[k]] ? 1 : 0);
  }
  const nSame = sameBefore[m];
  return { m, order, sorted, sameBefore, nSame, nDifferent: m - nSame, distances, same };
}

// Number of pairs with distance <= t (the accepted ones).
function accepted(data, t) {
  let lo = 0, hi = data.m;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (data.sorted[mid] <= t) lo = mid + 1; else hi = mid;
  }
  return lo;
}

// metrics.operating_point: counts and rates at t.
export function operatingPoint(data, t) {
  const k = accepted(data, t);
  const tp = data.sameBefore[k], fp = k - tp, fn = data.nSame - tp, tn = data.nDifferent - fp;
  const ratio = (a, b) => (b > 0 ? a / b : NaN);
  return { threshold: t, tp, fp, tn, fn, far: ratio(fp, fp + tn), frr: ratio(fn, tp + fn),
           tar: ratio(tp, tp + fn), accuracy: (tp + tn) / data.m, precision: ratio(tp, tp + fp), k };
}

// metrics.flipping_pairs: n // 2 accepted pairs just at or below t (largest distances first,
// ties by index), the rest rejected ones just above; one side short, the other fills in.
export function flippingPairs(data, t, n, k = accepted(data, t)) {
  let kBelow = Math.min(k, Math.floor(n / 2));
  const kAbove = Math.min(data.m - k, n - kBelow);
  kBelow = Math.min(k, n - kAbove);
  const chosen = [];
  let end = k - 1;
  while (chosen.length < kBelow) {            // a group of equal distances gives its lowest indices first
    let start = end;
    while (start > 0 && data.sorted[start - 1] === data.sorted[end]) start--;
    for (let p = start; p <= end && chosen.length < kBelow; p++) chosen.push(data.order[p]);
    end = start - 1;
  }
  for (let p = k; p < k + kAbove; p++) chosen.push(data.order[p]);
  return chosen.sort((a, b) => data.distances[a] - data.distances[b] || a - b);
}

// ROC points, one per distinct distance, from "accept nothing" (0, 0) to "accept all" (1, 1).
function rocPoints(data) {
  const points = [[0, 0]];
  for (let k = 1; k <= data.m; k++) {
    if (k < data.m && data.sorted[k] === data.sorted[k - 1]) continue;
    const tp = data.sameBefore[k];
    points.push([(k - tp) / data.nDifferent, tp / data.nSame]);
  }
  return points;
}

function marker(ctx, shape, x, y, r) {
  ctx.beginPath();
  if (shape === "square") ctx.rect(x - r, y - r, 2 * r, 2 * r);
  else if (shape === "triangle") { ctx.moveTo(x, y - r); ctx.lineTo(x + r, y + r); ctx.lineTo(x - r, y + r); ctx.closePath(); }
  else if (shape === "diamond") { ctx.moveTo(x, y - r); ctx.lineTo(x + r, y); ctx.lineTo(x, y + r); ctx.lineTo(x - r, y); ctx.closePath(); }
  else ctx.arc(x, y, r, 0, 2 * Math.PI);
}

class Explorer {
  constructor(model, el) {
    this.model = model;
    this.el = el;
    const d = bytesOf(model.get("distance_bytes")), s = bytesOf(model.get("same_bytes"));
    const view = new DataView(d.buffer, d.byteOffset, d.byteLength);
    const distances = new Float64Array(d.byteLength / 8).map((_, k) => view.getFloat64(8 * k, true));
    this.data = prepare(distances, Uint8Array.from(s));
    this.lo = model.get("slider_min"); this.hi = model.get("slider_max"); this.step = model.get("slider_step");
    this.steps = Math.round((this.hi - this.lo) / this.step);
    this.colors = model.get("colors");
    this.nExamples = model.get("n_examples");
    this.thumb = model.get("thumb");
    const cells = bytesOf(model.get("cell_bytes"));
    const cellView = new DataView(cells.buffer, cells.byteOffset, cells.byteLength);
    this.cells = new Int32Array(cells.byteLength / 4).map((_, k) => cellView.getInt32(4 * k, true));
    this.height = H_PLOTS + (this.nExamples > 0 ? H_STRIP : 0);
    this.build();
    this.background = this.drawBackground();
    this.loadSheet();
    this.threshold = model.get("threshold");
    this.slider.value = String(this.toStep(this.threshold));
    this.draw();
  }

  toStep(t) { return Math.min(this.steps, Math.max(0, Math.round((t - this.lo) / this.step))); }

  build() {
    const root = document.createElement("div");
    root.className = "cu-browser-explorer";
    root.style.cssText = "font-family:sans-serif;font-size:13px;max-width:100%";
    const controls = document.createElement("div");
    controls.style.cssText = "display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin-bottom:4px";
    const label = document.createElement("label");
    label.textContent = "threshold τ ";
    this.slider = document.createElement("input");
    Object.assign(this.slider, { type: "range", min: "0", max: String(this.steps), step: "1" });
    this.slider.className = "cu-threshold";
    this.slider.style.width = "min(520px, 60vw)";
    this.slider.setAttribute("aria-label", "threshold τ");
    label.appendChild(this.slider);
    this.readout = document.createElement("span");
    this.readout.style.cssText = "display:inline-block;min-width:5em;font-variant-numeric:tabular-nums";
    controls.append(label, this.readout, "jump to:");
    this.buttons = {};
    for (const [name, t] of Object.entries(this.model.get("named"))) {
      const button = document.createElement("button");
      button.textContent = name;
      button.title = `move τ to ${short(t)} (chosen on the ${this.model.get("chosen_on")})`;
      if (t === null) { button.disabled = true; button.title = "no threshold reaches this target"; }
      button.addEventListener("click", () => this.setThreshold(Math.min(this.hi, Math.max(this.lo, t)), true));
      this.buttons[name] = button;
      controls.appendChild(button);
    }
    this.canvas = document.createElement("canvas");
    this.canvas.setAttribute("role", "img");
    this.ratio = Math.max(1, window.devicePixelRatio || 1);
    this.canvas.width = Math.round(W * this.ratio);
    this.canvas.height = Math.round(this.height * this.ratio);
    this.canvas.style.cssText = `width:${W}px;max-width:100%;height:auto;display:block`;
    this.ctx = this.canvas.getContext("2d");
    root.append(controls, this.canvas);
    this.el.appendChild(root);
    this.root = root;
    this.slider.addEventListener("input", () => this.setThreshold(this.lo + Number(this.slider.value) * this.step, false));
  }

  // A move: from the slider (t on its grid) or a button / Python (t exact). Only τ goes back.
  setThreshold(t, moveSlider) {
    if (t === this.threshold) return;
    this.threshold = t;
    if (moveSlider) this.slider.value = String(this.toStep(t));
    this.draw();
    this.model.set("threshold", t);
    // The kernel hears the latest value at most every 50 ms: a drag sends a few messages a second,
    // not one a frame, so the page's main thread (and the kernel) stay free for drawing.
    if (this.saving === undefined) {
      this.saving = setTimeout(() => { this.saving = undefined; this.model.save_changes(); }, 50);
    }
  }

  fromPython() {
    const t = this.model.get("threshold");
    if (t === this.threshold) return;            // our own value coming back
    this.threshold = t;
    this.slider.value = String(this.toStep(t));
    this.draw();
  }

  loadSheet() {
    this.sheet = null;
    const jpeg = bytesOf(this.model.get("sheet_jpeg"));
    if (!jpeg.length || !this.nExamples) return;
    createImageBitmap(new Blob([jpeg], { type: "image/jpeg" })).then((bitmap) => {
      this.sheet = bitmap;
      this.root.dataset.faces = "loaded";
      this.draw();
    }).catch((err) => console.error("threshold explorer: face pictures not decoded", err));
  }

  xOf(t) { return HIST.x + ((t - this.lo) / (this.hi - this.lo)) * HIST.w; }

  // What never moves, drawn once: histograms, axes, legend, ROC curve and the named marks.
  drawBackground() {
    const canvas = document.createElement("canvas");
    canvas.width = this.canvas.width; canvas.height = this.canvas.height;
    const ctx = canvas.getContext("2d");
    ctx.scale(this.ratio, this.ratio);
    ctx.fillStyle = "white"; ctx.fillRect(0, 0, W, this.height);
    const { distances, same, m } = this.data;
    const counts = [new Float64Array(BINS), new Float64Array(BINS)];
    for (let p = 0; p < m; p++) {
      const b = Math.min(BINS - 1, Math.max(0, Math.floor(((distances[p] - this.lo) / (this.hi - this.lo)) * BINS)));
      counts[same[p] ? 0 : 1][b] += 1;
    }
    const top = Math.max(1, ...counts[0], ...counts[1]);
    const bw = HIST.w / BINS;
    [[0, this.colors.same], [1, this.colors.different]].forEach(([c, color]) => {
      ctx.globalAlpha = 0.6; ctx.fillStyle = color;
      counts[c].forEach((n, b) => {
        const h = (n / top) * (HIST.h - 8);
        ctx.fillRect(HIST.x + b * bw, HIST.y + HIST.h - h, bw, h);
      });
    });
    ctx.globalAlpha = 1;
    ctx.strokeStyle = "#333"; ctx.lineWidth = 1; ctx.fillStyle = "#333"; ctx.font = "11px sans-serif";
    ctx.strokeRect(HIST.x, HIST.y, HIST.w, HIST.h);
    ctx.textAlign = "center";
    const magnitude = 10 ** Math.floor(Math.log10((this.hi - this.lo) / 5));
    const tick = magnitude * [1, 2, 2.5, 5, 10].find((f) => f * magnitude >= (this.hi - this.lo) / 6);
    for (let t = Math.ceil(this.lo / tick) * tick; t <= this.hi; t += tick) {
      const x = this.xOf(t);
      ctx.beginPath(); ctx.moveTo(x, HIST.y + HIST.h); ctx.lineTo(x, HIST.y + HIST.h + 4); ctx.stroke();
      ctx.fillText(short(t), x, HIST.y + HIST.h + 15);
    }
    ctx.fillText("squared distance (accepted as the same person: distance ≤ τ)", HIST.x + HIST.w / 2, HIST.y + HIST.h + 30);
    ctx.textAlign = "left";
    const legend = [[this.colors.same, `same person (${this.data.nSame})`], [this.colors.different, `different people (${this.data.nDifferent})`]];
    legend.forEach(([color, text], i) => {
      ctx.globalAlpha = 0.6; ctx.fillStyle = color; ctx.fillRect(HIST.x + HIST.w - 150, HIST.y + 8 + 15 * i, 12, 10);
      ctx.globalAlpha = 1; ctx.fillStyle = "#333"; ctx.fillText(text, HIST.x + HIST.w - 133, HIST.y + 17 + 15 * i);
    });
    // ROC: FAR across, TAR up.
    const rx = (far) => ROC.x + far * ROC.w, ry = (tar) => ROC.y + ROC.h - tar * ROC.h;
    ctx.strokeRect(ROC.x, ROC.y, ROC.w, ROC.h);
    ctx.setLineDash([2, 3]); ctx.strokeStyle = "#aaa";
    ctx.beginPath(); ctx.moveTo(rx(0), ry(0)); ctx.lineTo(rx(1), ry(1)); ctx.stroke();
    ctx.setLineDash([]); ctx.strokeStyle = "#1f77b4"; ctx.lineWidth = 1.5;
    ctx.beginPath();
    rocPoints(this.data).forEach(([far, tar], i) => (i ? ctx.lineTo(rx(far), ry(tar)) : ctx.moveTo(rx(far), ry(tar))));
    ctx.stroke();
    ctx.strokeStyle = "#333"; ctx.lineWidth = 1; ctx.fillStyle = "#333"; ctx.textAlign = "center";
    [0, 0.5, 1].forEach((v) => {
      ctx.fillText(String(v), rx(v), ROC.y + ROC.h + 15);
      ctx.textAlign = "right"; ctx.fillText(String(v), ROC.x - 4, ry(v) + 4); ctx.textAlign = "center";
    });
    ctx.fillText("FAR (false accept rate)", ROC.x + ROC.w / 2, ROC.y + ROC.h + 30);
    ctx.fillText(`ROC: TAR against FAR (AUC ${this.model.get("auc").toFixed(3)})`, ROC.x + ROC.w / 2, ROC.y - 6);
    ctx.save(); ctx.translate(ROC.x - 28, ROC.y + ROC.h / 2); ctx.rotate(-Math.PI / 2);
    ctx.fillText("TAR (true accept rate)", 0, 0); ctx.restore();
    ctx.textAlign = "left"; ctx.strokeStyle = "dimgrey"; ctx.lineWidth = 1.2;
    Object.entries(this.model.get("named")).forEach(([name, t], i) => {
      const p = operatingPoint(this.data, t === null ? -Infinity : t), shape = MARKS[i % MARKS.length];
      marker(ctx, shape, rx(p.far), ry(p.tar), 6 - i); ctx.stroke();
      marker(ctx, shape, ROC.x + ROC.w - 92, ROC.y + ROC.h - 52 + 14 * i, 4); ctx.stroke();
      ctx.fillText(name, ROC.x + ROC.w - 84, ROC.y + ROC.h - 48 + 14 * i);
    });
    if (this.nExamples > 0) {
      ctx.textAlign = "center";
      ctx.fillText("pairs nearest to τ (their decision flips if τ moves a little)", W / 2, H_PLOTS + 8);
    }
    return canvas;
  }

  // One move: the background, then what τ changes. Measured in data-draw-ms.
  draw() {
    const start = performance.now();
    const t = this.threshold, ctx = this.ctx, c = this.colors;
    const p = operatingPoint(this.data, t);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(this.background, 0, 0);
    ctx.scale(this.ratio, this.ratio);
    const x = Math.min(HIST.x + HIST.w, Math.max(HIST.x, this.xOf(t)));
    ctx.globalAlpha = 0.08; ctx.fillStyle = c.same; ctx.fillRect(HIST.x, HIST.y, x - HIST.x, HIST.h); ctx.globalAlpha = 1;
    ctx.setLineDash([6, 4]); ctx.strokeStyle = "black"; ctx.lineWidth = 1.5;
    ctx.beginPath(); ctx.moveTo(x, HIST.y); ctx.lineTo(x, HIST.y + HIST.h); ctx.stroke(); ctx.setLineDash([]);
    ctx.font = "12px sans-serif";
    const label = (text, color, align, y) => {
      ctx.textAlign = align;
      const w = ctx.measureText(text).width, left = align === "right" ? x - w : x;
      ctx.globalAlpha = 0.8; ctx.fillStyle = "white"; ctx.fillRect(left - 2, y - 11, w + 4, 15); ctx.globalAlpha = 1;
      ctx.fillStyle = color; ctx.fillText(text, x, y);
    };
    label(`${p.fp} false accepts ← `, c.different, "right", HIST.y + 0.38 * HIST.h);
    label(` → ${p.fn} false rejects`, c.same, "left", HIST.y + 0.5 * HIST.h);
    ctx.fillStyle = "black";
    ctx.beginPath(); ctx.arc(ROC.x + p.far * ROC.w, ROC.y + ROC.h - p.tar * ROC.h, 5, 0, 2 * Math.PI); ctx.fill();
    const title = this.model.get("title");
    ctx.textAlign = "center"; ctx.font = "bold 13px sans-serif";
    ctx.fillText(`${title ? title + " — " : ""}τ = ${short(t)}:  FAR ${percent(p.far)}   FRR ${percent(p.frr)}   ` +
                 `TAR ${percent(p.tar)}   accuracy ${percent(p.accuracy)}`, W / 2, 18);
    this.drawTable(p);
    if (this.nExamples > 0) this.drawStrip(flippingPairs(this.data, t, this.nExamples, p.k));
    this.readout.textContent = `τ = ${short(t)}`;
    const ms = performance.now() - start;
    Object.assign(this.root.dataset, { threshold: String(t), far: String(p.far), frr: String(p.frr), tar: String(p.tar),
      accuracy: String(p.accuracy), tp: p.tp, fp: p.fp, tn: p.tn, fn: p.fn, drawMs: ms.toFixed(3), draws: Number(this.root.dataset.draws || 0) + 1,
      examples: this.lastExamples ? this.lastExamples.join(",") : "" });
    this.canvas.setAttribute("aria-label", `threshold ${short(t)}: FAR ${percent(p.far)}, FRR ${percent(p.frr)}, TAR ${percent(p.tar)}`);
  }

  drawTable(p) {
    const ctx = this.ctx, x = TABLE_X;
    ctx.textAlign = "left"; ctx.font = "12px sans-serif"; ctx.fillStyle = "#333";
    const nSame = p.tp + p.fn, nDiff = p.fp + p.tn;
    [["FAR", `${p.fp} / ${nDiff}`, p.far], ["FRR", `${p.fn} / ${nSame}`, p.frr], ["TAR", `${p.tp} / ${nSame}`, p.tar],
     ["accuracy", `${p.tp + p.tn} / ${this.data.m}`, p.accuracy]].forEach(([name, ratio, rate], i) => {
      const y = HIST.y + 12 + 18 * i;
      ctx.font = "12px sans-serif"; ctx.fillText(name, x, y); ctx.fillText(ratio, x + 60, y);
      ctx.font = "bold 12px sans-serif"; ctx.textAlign = "right"; ctx.fillText(percent(rate), W - 6, y); ctx.textAlign = "left";
    });
    // Confusion counts: rows = the truth, columns = the decision.
    const cw = 56, ch = 22, tx = W - 2 * cw - 6, ty = HIST.y + 118;
    ctx.font = "11px sans-serif"; ctx.textAlign = "center";
    ctx.fillText("decided", tx + cw, ty - 18);
    ctx.fillText("same", tx + cw / 2, ty - 5); ctx.fillText("different", tx + 1.5 * cw, ty - 5);
    ctx.textAlign = "right"; ctx.fillText("truly same", tx - 4, ty + 15); ctx.fillText("truly different", tx - 4, ty + ch + 15);
    ctx.textAlign = "center"; ctx.strokeStyle = "#ccc"; ctx.lineWidth = 1;
    [[p.tp, "TP", 0, 0, c => c.same], [p.fn, "FN", 1, 0, c => c.different], [p.fp, "FP", 0, 1, c => c.different],
     [p.tn, "TN", 1, 1, c => c.same]].forEach(([n, name, col, row, color]) => {
      ctx.strokeRect(tx + col * cw, ty + row * ch, cw, ch);
      ctx.fillStyle = color(this.colors); ctx.font = "bold 12px sans-serif";
      ctx.fillText(`${name} ${n}`, tx + col * cw + cw / 2, ty + row * ch + 15);
    });
    ctx.fillStyle = "#333";
  }

  drawStrip(chosen) {
    const ctx = this.ctx, n = this.nExamples, pitch = W / n, side = Math.min(this.thumb * 1.5, 60, pitch / 2 - 8);
    const { distances, same } = this.data;
    this.lastExamples = chosen;
    chosen.forEach((m, col) => {
      const cx = col * pitch + pitch / 2, y0 = H_PLOTS + 26;
      const acceptedNow = distances[m] <= this.threshold, correct = acceptedNow === Boolean(same[m]);
      const truthColor = same[m] ? this.colors.same : this.colors.different;
      const verdictColor = correct ? this.colors.same : this.colors.different;
      ctx.textAlign = "center"; ctx.font = "12px sans-serif"; ctx.fillStyle = truthColor;
      ctx.fillText(same[m] ? "same" : "different", cx, y0 + 10);
      ctx.fillText(`d = ${short(distances[m])}`, cx, y0 + 25);
      [0, 1].forEach((k) => {
        const left = cx - side - 4 + k * (side + 8), top = y0 + 34;
        if (this.sheet) {
          const cell = this.cells[2 * m + k], cols = this.model.get("sheet_columns"), s = this.thumb;
          ctx.drawImage(this.sheet, (cell % cols) * s, Math.floor(cell / cols) * s, s, s, left, top, side, side);
        } else {
          ctx.fillStyle = "#eee"; ctx.fillRect(left, top, side, side);
        }
        ctx.strokeStyle = verdictColor; ctx.lineWidth = 3; ctx.strokeRect(left - 1.5, top - 1.5, side + 3, side + 3);
      });
      ctx.fillStyle = verdictColor; ctx.font = "12px sans-serif";
      ctx.fillText(`→ ${acceptedNow ? "same" : "different"} ${correct ? "✓" : "✗ wrong"}`, cx, y0 + 34 + side + 20);
    });
  }
}

export default {
  render({ model, el }) {
    const explorer = new Explorer(model, el);
    const follow = () => explorer.fromPython();
    model.on("change:threshold", follow);
    return () => model.off("change:threshold", follow);
  },
};
