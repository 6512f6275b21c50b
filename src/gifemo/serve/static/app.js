// gifemo web page: pick or drop a GIF (or paste a URL), POST it to v1/predict, and show the
// GIF playing beside one bar per emotion and the clip-by-clip emotion timeline (inline SVG);
// then POST it to v1/explain and show the saliency heat-map GIF and each frame's importance.
// Plain JavaScript, no build step and no external asset: the page must work offline.
"use strict";

(function () {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  const state = { labels: [], colors: {}, objectUrl: null, request: 0, prediction: null, explanation: null };

  function setState(name) {
    document.body.dataset.state = name;
  }

  function percent(x) {
    return (100 * x).toFixed(1) + "%";
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }

  // ---- errors -------------------------------------------------------------------------------

  function showError(code, message) {
    const box = $("error");
    box.replaceChildren();
    if (code) box.append(el("code", {}, code));
    box.append(document.createTextNode(message));
    box.dataset.code = code || "";
    box.hidden = false;
    $("results").hidden = true;
    setState("error");
  }

  function clearError() {
    $("error").hidden = true;
    $("error").dataset.code = "";
  }

  // ---- labels and bars ----------------------------------------------------------------------

  async function loadLabels() {
    const response = await fetch("v1/labels");
    if (!response.ok) throw new Error("could not load the labels (HTTP " + response.status + ")");
    const doc = await response.json();
    state.labels = doc.labels;
    state.colors = doc.colors;
    const m = doc.model;
    $("model").textContent = m.name + " · " + m.size + "px · " + m.clip_len + "-frame clips · " + m.backend;
    showReliability(doc.reliability, m.temperature);
    buildBars();
  }

  function buildBars() {
    const bars = $("bars");
    bars.replaceChildren();
    for (const label of state.labels) {
      const row = el("div", { class: "bar", "data-label": label, "data-value": "" });
      const fill = el("div", { class: "bar-fill" });
      fill.style.background = state.colors[label];
      const track = el("div", { class: "bar-track" });
      track.append(fill);
      row.append(el("span", { class: "bar-label" }, label), track, el("span", { class: "bar-value" }, "–"));
      bars.append(row);
    }
  }

  function showBars(intensities, topLabel) {
    for (const row of $("bars").querySelectorAll(".bar")) {
      const value = intensities[row.dataset.label];
      row.dataset.value = String(value);
      row.querySelector(".bar-fill").style.width = (100 * value).toFixed(2) + "%";
      row.querySelector(".bar-value").textContent = percent(value);
      row.classList.toggle("is-top", row.dataset.label === topLabel);
    }
  }

  // ---- timeline -----------------------------------------------------------------------------

  function niceStep(span, target) {
    const raw = span / target;
    const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * magnitude >= raw) return m * magnitude;
    return 10 * magnitude;
  }

  // Each clip's intensity holds from its start to the next clip's start; the last to its end.
  function stepPoints(clips, label) {
    const points = [];
    clips.forEach((clip, i) => {
      const end = i + 1 < clips.length ? clips[i + 1].start_s : clip.end_s;
      const y = clip.intensities[label];
      points.push([clip.start_s, y], [end, y]);
    });
    return points;
  }

  function drawTimeline(prediction) {
    const box = $("timeline");
    box.replaceChildren();
    const clips = prediction.clips.slice().sort((a, b) => a.start_s - b.start_s);
    // Drawn at the box's own width, so that the text keeps its size on a narrow screen.
    const W = Math.max(320, Math.round(box.clientWidth) || 960);
    const H = Math.round(Math.min(300, Math.max(200, W * 0.4)));
    const L = 48, R = 16, T = 14, B = 36;
    const x0 = clips[0].start_s;
    const x1 = Math.max(clips[clips.length - 1].end_s, x0 + 1e-3);
    const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
    // The y axis ends at a round value above the largest intensity, so that close values of an
    // uncertain model stay apart; a confident one gets the full 0-100% scale.
    const top = Math.max(...clips.flatMap((c) => prediction.labels.map((l) => c.intensities[l])));
    const yStep = niceStep(Math.min(1, top * 1.1), 4);
    const y1 = Math.min(1, Math.ceil((top * 1.05) / yStep) * yStep);
    const sy = (y) => T + (1 - y / y1) * (H - T - B);
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "emotion timeline" });

    for (let y = 0; y <= y1 + 1e-9; y += yStep) {
      chart.append(svg("line", { class: "grid", x1: L, x2: W - R, y1: sy(y), y2: sy(y) }));
      const tick = svg("text", { x: L - 6, y: sy(y) + 4, "text-anchor": "end" });
      tick.textContent = +(100 * y).toFixed(1) + "%";
      chart.append(tick);
    }
    const step = niceStep(x1 - x0, Math.max(3, Math.floor(W / 120)));
    for (let x = Math.ceil(x0 / step) * step; x <= x1 + 1e-9; x += step) {
      chart.append(svg("line", { class: "grid", x1: sx(x), x2: sx(x), y1: T, y2: H - B }));
      const tick = svg("text", { x: sx(x), y: H - B + 16, "text-anchor": "middle" });
      tick.textContent = +x.toFixed(3) + " s";
      chart.append(tick);
    }
    chart.append(svg("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
    chart.append(svg("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }));
    const caption = svg("text", { x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle" });
    caption.textContent = "time (s)";
    chart.append(caption);

    for (const label of prediction.labels) {
      const d = stepPoints(clips, label)
        .map(([x, y], i) => (i ? "L" : "M") + sx(x).toFixed(1) + " " + sy(y).toFixed(1))
        .join(" ");
      const path = svg("path", { class: "series", d, stroke: state.colors[label] || "#888", "data-label": label });
      if (label === prediction.top_label) path.classList.add("is-top");
      chart.append(path);
    }
    const cursor = svg("line", { class: "cursor", y1: T, y2: H - B, visibility: "hidden" });
    chart.append(cursor);
    box.append(chart);
    addTooltip(box, chart, cursor, clips, prediction.labels, { W, L, R, x0, x1 });
    drawLegend(prediction);
  }

  function addTooltip(box, chart, cursor, clips, labels, g) {
    const tip = el("div", { class: "tooltip", hidden: "" });
    box.append(tip);
    chart.addEventListener("mousemove", (event) => {
      const rect = chart.getBoundingClientRect();
      const px = ((event.clientX - rect.left) / rect.width) * g.W;
      const t = g.x0 + ((px - g.L) / (g.W - g.L - g.R)) * (g.x1 - g.x0);
      if (t < g.x0 || t > g.x1) {
        cursor.setAttribute("visibility", "hidden");
        tip.hidden = true;
        return;
      }
      let clip = clips[0];
      for (const c of clips) if (c.start_s <= t) clip = c;
      cursor.setAttribute("x1", px);
      cursor.setAttribute("x2", px);
      cursor.setAttribute("visibility", "visible");
      tip.replaceChildren(el("b", {}, t.toFixed(2) + " s"), document.createTextNode(" · clip " + clip.index));
      for (const l of labels.slice().sort((a, b) => clip.intensities[b] - clip.intensities[a])) {
        const mark = el("span", {}, "■ ");
        mark.style.color = state.colors[l];
        tip.append(el("br"), mark, document.createTextNode(l + " " + percent(clip.intensities[l])));
      }
      tip.hidden = false;
      const x = event.clientX - box.getBoundingClientRect().left;
      tip.style.left = (x > box.clientWidth / 2 ? x - tip.offsetWidth - 12 : x + 12) + "px";
      tip.style.top = "8px";
    });
    chart.addEventListener("mouseleave", () => {
      cursor.setAttribute("visibility", "hidden");
      tip.hidden = true;
    });
  }

  function drawLegend(prediction) {
    const legend = $("legend");
    legend.replaceChildren();
    const box = $("timeline");
    for (const label of prediction.labels) {
      const item = el("span", { class: "legend-item", "data-label": label });
      const swatch = el("span", { class: "swatch" });
      swatch.style.background = state.colors[label];
      item.append(swatch, document.createTextNode(label + " " + percent(prediction.intensities[label])));
      item.addEventListener("mouseenter", () => {
        box.classList.add("focus");
        box.querySelector(`path[data-label="${label}"]`).classList.add("focused");
      });
      item.addEventListener("mouseleave", () => {
        box.classList.remove("focus");
        box.querySelector(`path[data-label="${label}"]`).classList.remove("focused");
      });
      legend.append(item);
    }
  }

  // ---- reliability and explanations ----------------------------------------------------------

  // The served model's calibration on its test GIFs: can an intensity of 80% be read as 80%?
  function showReliability(r, temperature) {
    const box = $("reliability");
    const t = temperature !== undefined && temperature !== 1 ? " · temperature " + temperature.toFixed(2) : " · uncalibrated";
    if (!r) {
      box.textContent = "reliability unknown (no test report for this model)" + t;
      box.dataset.ece = "";
      return;
    }
    box.dataset.ece = String(r.ece.value);
    box.textContent =
      "test ECE " + percent(r.ece.value) + " (95% CI " + percent(r.ece.ci_low) + "–" + percent(r.ece.ci_high) + ", " +
      r.n_gifs + " GIFs)" + t + (r.optimistic ? " · fitted on these test GIFs: optimistic" : "");
  }

  function drawImportance(explanation) {
    const box = $("importance");
    box.replaceChildren();
    const frames = explanation.frames;
    const W = Math.max(320, Math.round(box.clientWidth) || 640);
    const H = 200, L = 56, R = 12, T = 10, B = 34;
    const x1 = Math.max(frames[frames.length - 1].end_s, 1e-3);
    const values = frames.map((f) => f.importance);
    const span = Math.max(1e-6, ...values.map(Math.abs));
    const sx = (x) => L + (x / x1) * (W - L - R);
    const sy = (y) => T + ((span - y) / (2 * span)) * (H - T - B);
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "frame importance" });
    for (const y of [-span, 0, span]) {
      chart.append(svg("line", { class: y ? "grid" : "axis", x1: L, x2: W - R, y1: sy(y), y2: sy(y) }));
      const tick = svg("text", { x: L - 6, y: sy(y) + 4, "text-anchor": "end" });
      tick.textContent = (y > 0 ? "+" : "") + (100 * y).toFixed(2);
      chart.append(tick);
    }
    for (const f of frames) {
      const y0 = sy(Math.max(0, f.importance)), y1 = sy(Math.min(0, f.importance));
      const rect = svg("rect", {
        class: "frame " + (f.importance >= 0 ? "up" : "down"),
        x: sx(f.start_s), width: Math.max(1, sx(f.end_s) - sx(f.start_s) - 0.5),
        y: y0, height: Math.max(0.5, y1 - y0),
        "data-frame": f.index, "data-value": String(f.importance),
      });
      const title = svg("title");
      title.textContent = "frame " + f.index + " (" + f.start_s.toFixed(2) + " s): " +
        explanation.label + " " + percent(explanation.score) + " → " + percent(f.score_without) + " without it";
      rect.append(title);
      chart.append(rect);
    }
    const caption = svg("text", { x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle" });
    caption.textContent = "time (s) · drop in " + explanation.label + " (points of %) when the frame is replaced by its neighbour";
    chart.append(caption);
    box.append(chart);
  }

  function showExplanation(explanation) {
    state.explanation = explanation;
    $("heatmap").src = "data:image/gif;base64," + explanation.heatmap_gif;
    $("explain-label").textContent = explanation.label + " " + percent(explanation.score);
    let top = explanation.frames[0];
    for (const f of explanation.frames) if (f.importance > top.importance) top = f;
    $("explain-note").textContent =
      explanation.method + (explanation.layer ? " on " + explanation.layer : "") + " · most important frame " +
      top.index + " at " + top.start_s.toFixed(2) + " s (" + percent(explanation.score) + " → " + percent(top.score_without) + " without it)";
    drawImportance(explanation);
    $("explain").dataset.state = "ready";
  }

  async function explain(body, headers, label, id) {
    const box = $("explain");
    box.dataset.state = "loading";
    let response, doc = null;
    try {
      response = await fetch("v1/explain?label=" + encodeURIComponent(label), { method: "POST", body, headers });
      doc = await response.json();
    } catch (error) {
      doc = null;
    }
    if (id !== state.request) return;
    if (response && response.ok && doc) {
      showExplanation(doc);
    } else {
      box.dataset.state = "error";
      box.dataset.code = doc && doc.error ? doc.error.code : "network";
      $("explain-note").textContent = "no explanation: " + (doc && doc.error ? doc.error.message : "the server did not answer");
    }
  }

  // ---- predicting ---------------------------------------------------------------------------

  function showPrediction(prediction) {
    state.prediction = prediction;
    showBars(prediction.intensities, prediction.top_label);
    $("top").replaceChildren(
      document.createTextNode("Strongest: "),
      el("strong", {}, prediction.top_label),
      document.createTextNode(" (" + percent(prediction.top_score) + ")")
    );
    const seconds = prediction.duration_s.toFixed(2);
    $("meta").textContent =
      `${prediction.source} · ${prediction.n_frames} frames · ${seconds} s · ${prediction.n_clips} clips` +
      (prediction.truncated ? " · damaged file: only its first frames were used" : "");
    drawTimeline(prediction);
    $("raw-json").textContent = JSON.stringify(prediction, null, 2);
    setState("ready");
  }

  function resetExplanation() {
    state.explanation = null;
    const box = $("explain");
    box.dataset.state = "idle";
    box.dataset.code = "";
    $("heatmap").removeAttribute("src");
    $("importance").replaceChildren();
    $("explain-note").textContent = "";
    $("explain-label").textContent = "";
  }

  // body: a FormData or a JSON text, sent again to v1/explain once the prediction is shown.
  async function predict(body, headers) {
    const id = ++state.request;
    clearError();
    resetExplanation();
    setState("loading");
    let response;
    try {
      response = await fetch("v1/predict", { method: "POST", body, headers });
    } catch (error) {
      if (id === state.request) showError("network", "could not reach the server: " + error.message);
      return;
    }
    let doc = null;
    try {
      doc = await response.json();
    } catch (error) {
      doc = null;
    }
    if (id !== state.request) return; // a newer GIF was chosen meanwhile
    if (response.ok && doc) {
      showPrediction(doc);
      explain(body, headers, doc.top_label, id);
    } else if (doc && doc.error) {
      showError(doc.error.code, doc.error.message);
    } else {
      showError("http_" + response.status, "the server answered HTTP " + response.status);
    }
  }

  function showPreview(src, name) {
    if (state.objectUrl) URL.revokeObjectURL(state.objectUrl);
    state.objectUrl = src.startsWith("blob:") ? src : null;
    $("preview").src = src;
    $("meta").textContent = name;
    buildBars();
    state.prediction = null;
    $("timeline").replaceChildren();
    $("legend").replaceChildren();
    $("top").textContent = "";
    $("results").hidden = false;
  }

  function predictFile(file) {
    if (!file) return;
    // An object URL in an <img>: the browser plays the animation itself.
    showPreview(URL.createObjectURL(file), file.name);
    const form = new FormData();
    form.append("file", file, file.name);
    predict(form);
  }

  function predictUrl(url) {
    showPreview(url, url);
    predict(JSON.stringify({ url }), { "Content-Type": "application/json" });
  }

  // ---- wiring -------------------------------------------------------------------------------

  function wire() {
    let resizing = null;
    window.addEventListener("resize", () => {
      clearTimeout(resizing);
      resizing = setTimeout(() => {
        if (state.prediction && !$("results").hidden) drawTimeline(state.prediction);
        if (state.explanation) drawImportance(state.explanation);
      }, 150);
    });
    const input = $("file-input");
    $("pick").addEventListener("click", () => input.click());
    input.addEventListener("change", () => {
      predictFile(input.files[0]);
      input.value = ""; // choosing the same file again predicts again
    });
    $("url-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const url = $("url-input").value.trim();
      if (url) predictUrl(url);
    });
    const zone = $("dropzone");
    let depth = 0; // dragenter/dragleave fire for every child element
    document.addEventListener("dragenter", (event) => {
      event.preventDefault();
      depth += 1;
      zone.classList.add("dragging");
    });
    document.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (!depth) zone.classList.remove("dragging");
    });
    document.addEventListener("dragover", (event) => event.preventDefault());
    document.addEventListener("drop", (event) => {
      event.preventDefault();
      depth = 0;
      zone.classList.remove("dragging");
      const file = event.dataTransfer && event.dataTransfer.files[0];
      if (file) predictFile(file);
    });
  }

  wire();
  loadLabels().catch((error) => showError("labels", error.message));
})();
