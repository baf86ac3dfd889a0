// The page of `zoo serve`: the served models with their cards, and a way to try each.
// Plain DOM and fetch, served by the package itself (no CDN), so it works offline.
"use strict";

const main = document.getElementById("main");

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

async function call(name, verb, body) {
  const r = await fetch(`/v1/models/${encodeURIComponent(name)}:${verb}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await r.json();
  if (!r.ok) throw new Error(answer.error || `HTTP ${r.status}`);
  return answer;
}

function showError(out, err) {
  out.replaceChildren(el("p", { class: "error", text: String(err.message || err) }));
}

function showBars(out, ranked) {
  const rows = ranked.map((r) =>
    el("div", { class: "bar", "data-label": r.label },
      el("span", { class: "name", text: r.label }),
      el("span", { class: "track" },
        el("span", { class: "fill", style: `display:block;width:${(100 * r.probability).toFixed(1)}%` })),
      el("span", { class: "p", text: r.probability.toFixed(3) })));
  out.replaceChildren(el("div", { id: "top-label", text: ranked[0].label }), ...rows);
}

// an image the model returned (an autoencoder's reconstruction): H x W x C values in [0, 1]
function showImage(out, rows) {
  const h = rows.length, w = rows[0].length;
  const canvas = el("canvas", { id: "output-image", width: w, height: h,
    style: "width:168px;height:168px;image-rendering:pixelated;border:1px solid #ccc" });
  const ctx = canvas.getContext("2d");
  const data = ctx.createImageData(w, h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const px = rows[y][x];
      const rgb = px.length === 3 ? px : [px[0], px[0], px[0]];
      for (let c = 0; c < 3; c++) data.data[4 * (y * w + x) + c] = 255 * Math.min(1, Math.max(0, rgb[c]));
      data.data[4 * (y * w + x) + 3] = 255;
    }
  }
  ctx.putImageData(data, 0, 0);
  out.replaceChildren(el("p", { text: "The model's output:" }), canvas);
}

async function classify(model, out, instance) {
  out.replaceChildren(el("p", { class: "muted", text: "Asking the model..." }));
  try {
    const body = { instances: [instance] };
    if (model.output === "classes") body.top_k = model.labels ? model.labels.length : 10;
    const answer = await call(model.name, "predict", body);
    if (answer.top_k) showBars(out, answer.top_k[0]);
    else if (model.output === "image") showImage(out, answer.predictions[0]);
    else out.replaceChildren(el("pre", { text: JSON.stringify(answer.predictions[0]) }));
  } catch (err) {
    showError(out, err);
  }
}

function b64OfDataUrl(url) {
  return url.slice(url.indexOf(",") + 1);
}

function digitWidget(model, box, out) {
  const canvas = el("canvas", { id: "canvas", width: 280, height: 280 });
  const ctx = canvas.getContext("2d");
  const clear = () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, 280, 280); };
  clear();
  let drawing = false;
  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * 280 / r.width, (e.clientY - r.top) * 280 / r.height];
  };
  canvas.addEventListener("pointerdown", (e) => { drawing = true; ctx.beginPath(); ctx.moveTo(...at(e)); });
  canvas.addEventListener("pointermove", (e) => {
    if (!drawing) return;
    ctx.lineTo(...at(e));
    ctx.strokeStyle = "#fff"; ctx.lineWidth = 22; ctx.lineCap = "round"; ctx.lineJoin = "round";
    ctx.stroke();
  });
  const finish = () => { drawing = false; };
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointerleave", finish);
  // shrink to the model's 28 x 28 in the browser: smooth, like MNIST's anti-aliased digits
  const small = el("canvas", { id: "small", width: model.image.width, height: model.image.height });
  const predict = el("button", { id: "predict", text: "Predict" });
  predict.addEventListener("click", () => {
    const s = small.getContext("2d");
    s.imageSmoothingQuality = "high";
    s.drawImage(canvas, 0, 0, small.width, small.height);
    classify(model, out, { b64: b64OfDataUrl(small.toDataURL("image/png")) });
  });
  const clearButton = el("button", { id: "clear", text: "Clear" });
  clearButton.addEventListener("click", () => { clear(); out.replaceChildren(); });
  box.append(el("p", { text: "Draw a digit, then press Predict." }), canvas, el("br"), predict,
    clearButton, el("p", { class: "muted", text: "What the model sees:" }), small);
}

function imageWidget(model, box, out) {
  const input = el("input", { id: "file", type: "file", accept: "image/*" });
  const preview = el("img", { id: "preview", style: "max-width:224px;display:block;margin:0.5em 0" });
  input.addEventListener("change", () => {
    const file = input.files[0];
    if (!file) return;
    const reader = new FileReader();
    reader.onload = () => {
      preview.src = reader.result;
      classify(model, out, { b64: b64OfDataUrl(reader.result) });
    };
    reader.readAsDataURL(file);
  });
  box.append(el("p", { text: "Upload a photo." }), input, preview);
}

function textWidget(model, box, out) {
  const area = el("textarea", { id: "text", placeholder: "Type some text" });
  const button = el("button", { id: "predict", text: "Predict" });
  button.addEventListener("click", () => classify(model, out, area.value));
  box.append(area, el("br"), button);
}

function languageModelWidget(model, box, out) {
  const area = el("textarea", { id: "text", placeholder: "A prompt" });
  const length = el("input", { id: "length", type: "number", value: 200, min: 1, max: 1000 });
  const temperature = el("input", { id: "temperature", type: "number", value: 0.8, step: 0.1, min: 0 });
  const button = el("button", { id: "generate", text: "Generate" });
  button.addEventListener("click", async () => {
    out.replaceChildren(el("p", { class: "muted", text: "Writing..." }));
    try {
      const answer = await call(model.name, "generate", {
        prompt: area.value, length: Number(length.value), temperature: Number(temperature.value),
      });
      out.replaceChildren(el("pre", { id: "generated", text: answer.prompt + answer.text }));
    } catch (err) {
      showError(out, err);
    }
  });
  box.append(area, el("br"), "length ", length, " temperature ", temperature, el("br"), button);
}

function generatorWidget(model, box, out) {
  const button = el("button", { id: "generate", text: "Sample" });
  button.addEventListener("click", async () => {
    try {
      const seed = Math.floor(Math.random() * 1e9);
      const count = model.kind === "diffusion" ? 4 : 8;  // diffusion: 20 denoising steps each
      const answer = await call(model.name, "generate", { count, seed });
      const imgs = answer.images.map((i) => el("img", { src: `data:image/png;base64,${i.b64}` }));
      out.replaceChildren(el("div", { class: "samples" }, ...imgs));
    } catch (err) {
      showError(out, err);
    }
  });
  box.append(el("p", { text: "Press the button for new samples." }), button);
}

function tensorWidget(model, box, out) {
  const area = el("textarea", { id: "text", placeholder: '{"instances": [[...]]}' });
  const button = el("button", { id: "predict", text: "Predict" });
  button.addEventListener("click", async () => {
    try {
      const answer = await call(model.name, "predict", JSON.parse(area.value));
      out.replaceChildren(el("pre", { text: JSON.stringify(answer) }));
    } catch (err) {
      showError(out, err);
    }
  });
  box.append(el("p", { text: "Send a TF Serving request body." }), area, el("br"), button);
}

const WIDGETS = {
  digit: digitWidget, image: imageWidget, text: textWidget,
  language_model: languageModelWidget, generator: generatorWidget, diffusion: generatorWidget,
  tensor: tensorWidget,
};

function card(model) {
  const c = model.card || {};
  return el("div", {},
    el("p", { text: c.summary || "" }),
    el("p", { class: "muted", text: `version ${model.version} · ${model.kind}` +
      (c.dataset ? ` · trained on ${c.dataset}` : "") }),
    el("p", { class: "muted", text: c.preprocessing ? `input: ${c.preprocessing}` : "" }));
}

function listPage(models) {
  const rows = models.map((m) => el("div", { class: "model" },
    el("h2", {}, m.available ? el("a", { href: `/models/${m.name}`, text: m.name }) : m.name),
    m.available ? card(m) : el("p", { class: "error", text: "not available (see the status endpoint)" })));
  main.replaceChildren(el("h1", { text: "Served models" }), ...rows);
}

function modelPage(model) {
  const box = el("div", { id: "widget" });
  const out = el("div", { id: "answer" });
  main.replaceChildren(el("h1", { text: model.name }), card(model), box, out);
  (WIDGETS[model.kind] || tensorWidget)(model, box, out);
}

async function start() {
  const r = await fetch("/zoo/models");
  const models = (await r.json()).models;
  const match = location.pathname.match(/^\/models\/([^/]+)$/);
  if (!match) return listPage(models);
  const model = models.find((m) => m.name === decodeURIComponent(match[1]));
  if (!model || !model.available) {
    main.replaceChildren(el("p", { class: "error", text: `No available model ${match[1]}.` }));
    return;
  }
  modelPage(model);
}

start().catch((err) => showError(main, err));
