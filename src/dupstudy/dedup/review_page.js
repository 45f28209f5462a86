// The review page (review_page.py writes the data into the page): pairs, audit and precision
// views over one set of judgements, kept in the browser by path and exported as CSV.
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const P = D.pairs, I = D.images;
const WORK = 32;  // the alignment's shifts are in pixels of a 32-pixel frame (aligned.py WORK_SIZE)
const DECISIONS = { duplicate: "Duplicate", keep_both: "Keep both", skip: "Skip" };
const KEYS = { d: "duplicate", k: "keep_both", s: "skip" };
const VIEWS = ["side by side", "blink", "difference"];
const SIZES = [96, 128, 192, 256];
const STORE = "dupstudy-review:" + (D.store || D.title);

// ------------------------------------------------------------------ judgements, kept by path
const KEY = P.a.map((a, i) => [I.path[a], I.path[P.b[i]]].sort().join("\n"));
const pathKey = (i) => KEY[i];
let saved = { decisions: {}, history: [] };
let storageOk = true;
try { saved = JSON.parse(localStorage.getItem(STORE)) || saved; } catch (e) { storageOk = false; }
const decisionOf = (i) => saved.decisions[pathKey(i)] || "";
function save() {
  try { localStorage.setItem(STORE, JSON.stringify(saved)); } catch (e) { storageOk = false; }
}
function decide(i, value) {
  const key = pathKey(i);
  saved.history.push([key, saved.decisions[key] || ""]);
  if (saved.decisions[key] === value) delete saved.decisions[key]; else saved.decisions[key] = value;
  save();
}
function undo() {
  const last = saved.history.pop();
  if (!last) return null;
  if (last[1]) saved.decisions[last[0]] = last[1]; else delete saved.decisions[last[0]];
  save();
  return last[0];
}

// ------------------------------------------------------------------ statistics and CSV
function wilson(k, n) {  // 95 % Wilson score interval, as dupstudy.stats.wilson_interval
  if (!n) return [0, 1];
  const z = 1.959964, p = k / n, den = 1 + z * z / n;
  const centre = (p + z * z / (2 * n)) / den;
  const half = z * Math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den;
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}
const csvField = (v) => /[",\n\r]/.test(String(v)) ? '"' + String(v).replace(/"/g, '""') + '"' : String(v);
const csvLine = (row) => row.map(csvField).join(",");

function decisionsCsv() {
  const rows = new Map();
  for (const [a, b, d] of D.earlier) rows.set([a, b].sort().join("\n"), d);
  for (const [key, d] of Object.entries(saved.decisions)) if (d !== "skip") rows.set(key, d);
  const lines = [...rows.keys()].sort().map((key) => csvLine([...key.split("\n"), rows.get(key)]));
  return ["a,b,decision", ...lines].join("\n") + "\n";
}
function sampleCsv() {
  const label = { duplicate: "yes", keep_both: "no" };
  const lines = D.sample.map((i) => csvLine([I.id[P.a[i]], I.id[P.b[i]], I.path[P.a[i]], I.path[P.b[i]],
    P.kind[i], P.scope[i], P.distance[i], label[decisionOf(i)] || ""]));
  return ["a,b,path_a,path_b,kind,scope,distance,label", ...lines].join("\n") + "\n";
}
function download(name, text) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
  a.download = name;
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

// ------------------------------------------------------------------ images: atlases decoded on demand
const atlasText = [...document.querySelectorAll("script.atlas")].map((s) => s.textContent);
const atlases = [];
function atlas(k) {  // the browser decodes the data URL natively: no byte loop in script
  if (!atlases[k]) {
    const img = new Image();
    img.src = "data:image/webp;base64," + atlasText[k];
    atlases[k] = img.decode().then(() => img);
  }
  return atlases[k];
}
function drawImage(ctx, img, size, transform) {
  const c = D.cell, k = Math.floor(img / c.per_atlas), cell = img % c.per_atlas;
  const sx = (cell % c.cols) * c.w, sy = Math.floor(cell / c.cols) * c.h;
  const f = size / Math.max(c.w, c.h), w = c.w * f, h = c.h * f;
  return atlas(k).then((bm) => {
    ctx.save();
    ctx.imageSmoothingEnabled = f < 1;
    ctx.translate(size / 2, size / 2);
    if (transform) transform(ctx, size);
    ctx.drawImage(bm, sx, sy, c.w, c.h, -w / 2, -h / 2, w, h);
    ctx.restore();
  });
}
// b's frame placed on a's: "zoom z mirror shift dy,dx" (aligned.describe_alignment) or a flip/rotation
function alignment(i) {
  const t = P.transform[i];
  if (t !== "identity") {  // flip first, then quarter turns anticlockwise (turned.placement)
    const flip = t.startsWith("flip"), rot = parseInt(t.replace(/\D/g, "") || "0", 10);
    return (ctx) => { ctx.rotate(-rot * Math.PI / 180); if (flip) ctx.scale(-1, 1); };
  }
  // "zoom 1.12" or "zoom 1.12,1.06" (vertical, horizontal), then "mirror", then "shift dy,dx"
  const m = /^(?:zoom ([\d.]+)(?:,([\d.]+))? )?(mirror )?shift (-?\d+),(-?\d+)$/.exec(P.alignment[i] || "");
  if (!m) return null;
  const zy = m[1] ? parseFloat(m[1]) : 1, zx = m[2] ? parseFloat(m[2]) : zy, mirror = !!m[3], dy = +m[4], dx = +m[5];
  return (ctx, size) => {  // mirror about the centre, then the shift, then the zoom (applied first)
    if (mirror) ctx.scale(-1, 1);
    ctx.translate(dx * size / WORK, dy * size / WORK);
    ctx.scale(1 / zx, 1 / zy);
  };
}
// |A - B| where B, placed on A, covers A; transparent (the canvas's grey) where it does not
function drawDifference(ctx, i, size) {
  const c = D.cell, f = size / Math.max(c.w, c.h), move = alignment(i);
  ctx.save();
  ctx.translate(size / 2, size / 2);
  if (move) move(ctx, size);
  ctx.beginPath();
  ctx.rect(-c.w * f / 2, -c.h * f / 2, c.w * f, c.h * f);
  ctx.clip();
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  return drawImage(ctx, P.a[i], size).then(() => {
    ctx.globalCompositeOperation = "difference";
    return drawImage(ctx, P.b[i], size, move);
  }).then(() => {
    ctx.restore();
    const px = ctx.getImageData(0, 0, size, size);  // amplified 3x: small changes must show
    for (let k = 0; k < px.data.length; k += 4) for (let c = 0; c < 3; c++) px.data[k + c] = Math.min(255, px.data[k + c] * 3);
    ctx.putImageData(px, 0, 0);
  });
}

// ------------------------------------------------------------------ views and filters
const state = { mode: "pairs", view: 0, size: 1, focus: 0, blinkOn: false, filters: {}, sort: "kind" };
const className = (img) => D.classes[I.label[img]] ?? String(I.label[img]);
// each filter's values of a pair, computed once (the decision's change as the person works)
const once = (f) => P.a.map((_, i) => f(i));
const DECIDED = { "": ["undecided"], ...Object.fromEntries(Object.entries(DECISIONS).map(([k, v]) => [k, [v]])) };
const FILTERS = {
  kind: { label: "Kind", values: once((i) => [P.kind[i]]) },
  scope: { label: "Scope", values: once((i) => [P.scope[i]]) },
  band: { label: "Score band", values: once((i) => [P.band[i]]) },
  cls: { label: "Class (either image)", values: once((i) => [...new Set([className(P.a[i]), className(P.b[i])])]) },
  conflict: { label: "Labels", values: once((i) => [I.label[P.a[i]] !== I.label[P.b[i]] ? "label conflict" : "same label"]) },
  decision: { label: "Decision", of: (i) => DECIDED[decisionOf(i)] },
};
const valuesOf = (name, i) => FILTERS[name].values ? FILTERS[name].values[i] : FILTERS[name].of(i);
// one scale for sorting: the pair's own score where it has one, else its hash bits
const SIMILARITY = P.a.map((_, i) => P.score[i] ?? P.cosine[i] ?? 1 - P.distance[i] / 64);
const KIND_ORDER = [...new Set(P.kind)].sort(), KIND_RANK = P.kind.map((k) => KIND_ORDER.indexOf(k));
const SORTS = {
  kind: ["kind, then most similar", (i, j) => KIND_RANK[i] - KIND_RANK[j] || SIMILARITY[j] - SIMILARITY[i]],
  similar: ["most similar first", (i, j) => SIMILARITY[j] - SIMILARITY[i]],
  dissimilar: ["least similar first", (i, j) => SIMILARITY[i] - SIMILARITY[j]],
  distance: ["hash distance", (i, j) => P.distance[i] - P.distance[j]],
  aligned: ["aligned score, highest first", (i, j) => (P.score[j] ?? -2) - (P.score[i] ?? -2)],
};
const shownPairs = P.a.map((_, i) => i).filter((i) => P.shown[i]);
function matches(i) {
  for (const [name, want] of Object.entries(state.filters)) if (want && !valuesOf(name, i).includes(want)) return false;
  return true;
}
// per filter, the count of each value among the pairs that pass every other filter: one pass
function facetCounts() {
  const names = Object.keys(FILTERS), active = names.filter((n) => state.filters[n]);
  const counts = Object.fromEntries(names.map((n) => [n, new Map()])), totals = Object.fromEntries(names.map((n) => [n, 0]));
  for (const i of shownPairs) {
    let failed = null, misses = 0;
    for (const n of active) if (!valuesOf(n, i).includes(state.filters[n]) && (failed = n) && ++misses > 1) break;
    if (misses > 1) continue;
    for (const n of names) {
      if (misses && n !== failed) continue;
      totals[n]++;
      for (const v of valuesOf(n, i)) counts[n].set(v, (counts[n].get(v) || 0) + 1);
    }
  }
  return { counts, totals };
}
function items() {
  if (state.mode === "audit") return D.audit.map(([removed, , pair]) => ({ pair, removed }));
  if (state.mode === "precision") return D.sample.map((i) => ({ pair: i }));
  const list = shownPairs.filter((i) => matches(i));
  list.sort(SORTS[state.sort][1]);
  return list.map((i) => ({ pair: i }));
}

// ------------------------------------------------------------------ layout
const $ = (sel) => document.querySelector(sel);
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
document.body.innerHTML = `
<header><h1>${esc(D.title)}</h1>
 <nav><button data-mode=pairs>Pairs <kbd>1</kbd></button> <button data-mode=audit>Audit removals <kbd>2</kbd></button>
  <button data-mode=precision>Precision sample <kbd>3</kbd></button> <button data-mode=export>Export <kbd>4</kbd></button>
  <button data-mode=help>Help <kbd>?</kbd></button></nav>
 <div id=status></div><div id=progress aria-live=polite><span id=ptext></span><div id=bar><div></div></div></div></header>
<main><aside id=side></aside><div id=grid tabindex=0><div id=spacer></div></div><div id=page hidden></div></main>`;
let list = [];

function sidebar() {
  const side = $("#side");
  if (state.mode !== "pairs") { side.innerHTML = panel(); return; }
  let h = "";
  const facets = facetCounts();
  for (const [name, f] of Object.entries(FILTERS)) {
    const counts = facets.counts[name], total = facets.totals[name];
    const want = state.filters[name] || "";
    if (want && !counts.has(want)) counts.set(want, 0);
    const opts = [...counts.keys()].sort().map((v) =>
      `<option value="${esc(v)}"${v === want ? " selected" : ""}>${esc(v)} (${counts.get(v)})</option>`).join("");
    h += `<label for=f-${name}>${f.label}</label><select id=f-${name} data-filter=${name}>` +
         `<option value="">all (${total})</option>${opts}</select>`;
  }
  h += `<label for=sort>Sort</label><select id=sort>${Object.entries(SORTS).map(([k, [t]]) =>
         `<option value=${k}${k === state.sort ? " selected" : ""}>${t}</option>`).join("")}</select>`;
  side.innerHTML = h + controls() + panel();
}
function controls() {
  return `<label for=view>View <kbd>V</kbd></label><select id=view>${VIEWS.map((v, k) =>
           `<option value=${k}${k === state.view ? " selected" : ""}>${v}</option>`).join("")}</select>
    <label for=size>Image size <kbd>+</kbd> <kbd>-</kbd></label><select id=size>${SIZES.map((v, k) =>
           `<option value=${k}${k === state.size ? " selected" : ""}>${v} px</option>`).join("")}</select>`;
}
function panel() {
  const keys = `<div class=panel><b>Keys</b><br><kbd>D</kbd> duplicate, <kbd>K</kbd> keep both, <kbd>S</kbd> skip,
    <kbd>U</kbd> undo, arrows or <kbd>N</kbd>/<kbd>P</kbd> move, <kbd>V</kbd> view, <kbd>1</kbd>-<kbd>4</kbd> tabs,
    <kbd>Tab</kbd> to the filters and <kbd>Esc</kbd> back.</div>`;
  if (state.mode === "audit") {
    const done = D.audit.filter(([, , p]) => ["duplicate", "keep_both"].includes(decisionOf(p)));
    const ok = done.filter(([, , p]) => decisionOf(p) === "duplicate").length;
    const [lo, hi] = wilson(ok, done.length);
    return controls() + `<div class=panel id=audit-stats><b>Removals checked:</b> ${done.length} of ${D.audit.length}<br>` +
      (done.length ? `right to remove: ${ok} (${pct(ok / done.length)}, 95 % Wilson ${pct(lo)}-${pct(hi)})` : "") +
      `<br><small>A random sample of the removals, each removed image beside the image kept for it.
       <b>Keep both</b> means the removal was wrong: the export keeps both next time.</small></div>` + keys;
  }
  if (state.mode === "precision") {
    const done = D.sample.filter((i) => ["duplicate", "keep_both"].includes(decisionOf(i)));
    const yes = done.filter((i) => decisionOf(i) === "duplicate").length;
    const [lo, hi] = wilson(yes, done.length);
    return controls() + `<div class=panel id=precision-stats><b>Labelled:</b> ${done.length} of ${D.sample.length}<br>` +
      (done.length ? `precision ${pct(yes / done.length)} (95 % Wilson ${pct(lo)}-${pct(hi)})` : "") +
      `<br><small>A seeded random sample of the pairs found (review_sample.csv). <b>Duplicate</b> = yes, a true
       duplicate; <b>Keep both</b> = no.</small></div>` + keys;
  }
  return keys;
}
const pct = (x) => (100 * x).toFixed(1) + " %";

function geometry() {  // cards share the grid's width; each image column is at least 150 px wide
  const S = SIZES[state.size], min = 2 * Math.max(S, 150) + 30, h = S + 128;
  const width = $("#grid").clientWidth - 8, cols = Math.max(1, Math.floor(width / (min + 8)));
  return { S, w: Math.max(min, Math.floor(width / cols) - 8), h, cols };
}
function render() {
  for (const b of document.querySelectorAll("nav button")) b.setAttribute("aria-pressed", b.dataset.mode === state.mode);
  const isGrid = ["pairs", "audit", "precision"].includes(state.mode);
  $("#grid").hidden = !isGrid;
  $("#page").hidden = isGrid;
  $("#side").hidden = !isGrid;
  sidebar();
  if (!isGrid) { page(); progress(); return; }
  list = items();
  state.focus = Math.min(state.focus, Math.max(0, list.length - 1));
  const g = geometry();
  $("#spacer").style.height = Math.ceil(list.length / g.cols) * (g.h + 8) + 8 + "px";
  drawVisible(true);
  progress();
}
let drawn = new Map();
function drawVisible(force) {
  const grid = $("#grid"), g = geometry();
  const first = Math.max(0, Math.floor(grid.scrollTop / (g.h + 8)) - 1);
  const last = Math.ceil((grid.scrollTop + grid.clientHeight) / (g.h + 8)) + 1;
  const want = new Set();
  for (let r = first; r <= last; r++) for (let c = 0; c < g.cols; c++) { const k = r * g.cols + c; if (k < list.length) want.add(k); }
  if (force) { drawn.forEach((el) => el.remove()); drawn = new Map(); }
  for (const [k, el] of drawn) if (!want.has(k)) { el.remove(); drawn.delete(k); }
  for (const k of want) if (!drawn.has(k)) { const el = card(k, g); $("#spacer").appendChild(el); drawn.set(k, el); }
  const none = { pairs: shownPairs.length ? "No pairs with these filters." : "This run found no pairs.",
                 audit: "No training image was removed.", precision: "No pairs to sample." }[state.mode];
  if (!list.length) $("#spacer").innerHTML = `<div class=empty>${none}</div>`;
}
function describeImage(img) {
  return `${esc(I.split[img])} &middot; <b>${esc(className(img))}</b> &middot; ${esc(I.size[img])} ${esc(I.format[img])}`;
}
function card(k, g) {
  const it = list[k], i = it.pair, dec = decisionOf(i);
  const el = document.createElement("div");
  el.className = "card" + (dec ? " " + dec : "") + (k === state.focus ? " focus" : "");
  el.dataset.k = k;
  const a = P.a[i], b = P.b[i], role = (img) => it.removed === undefined ? "" : img === it.removed ? " (removed)" : " (kept)";
  el.dataset.pair = I.path[a] + " | " + I.path[b];
  Object.assign(el.style, { left: 8 + (k % g.cols) * (g.w + 8) + "px", top: 8 + Math.floor(k / g.cols) * (g.h + 8) + "px",
                            width: g.w + "px", height: g.h + "px" });
  const score = [P.score[i] !== null ? `detail ${P.score[i].toFixed(2)}` : "", P.cosine[i] !== null ? `cosine ${P.cosine[i].toFixed(3)}` : "",
                 `${P.distance[i]} bits`].filter(Boolean).join(", ");
  const how = P.transform[i] !== "identity" ? P.transform[i] : P.alignment[i] || "identity";
  const figure = (img, name) => `<figure><canvas width=${g.S} height=${g.S}></canvas><figcaption title="${esc(I.path[img])}">
    ${name}${role(img)}: <span class=path>${esc(I.path[img])}</span><br>${describeImage(img)}</figcaption></figure>`;
  el.innerHTML = `<div class=imgs>${figure(a, "A")}${figure(b, "B")}</div>
    <div class=meta><b>${esc(P.kind[i])}</b> &middot; ${esc(P.scope[i])} &middot; ${score}</div>
    <div class=meta>transform of B onto A: ${esc(how)}</div>
    <div class=btns>${Object.entries(DECISIONS).map(([d, t]) =>
      `<button data-decide=${d} class="${dec === d ? "on" : ""}">${t} <kbd>${d[0].toUpperCase()}</kbd></button>`).join("")}</div>`;
  const [ca, cb] = el.querySelectorAll("canvas");
  paint(ca.getContext("2d"), cb.getContext("2d"), i, g.S);
  return el;
}
function paint(ctxA, ctxB, i, S) {
  drawImage(ctxA, P.a[i], S);
  ctxB.clearRect(0, 0, S, S);
  if (state.view === 2) drawDifference(ctxB, i, S);
  else if (state.view === 1 && state.blinkOn) drawImage(ctxB, P.a[i], S);
  else drawImage(ctxB, P.b[i], S, state.view ? alignment(i) : null);
}
function progress() {
  const src = { pairs: list.map((x) => x.pair), audit: D.audit.map((x) => x[2]), precision: D.sample }[state.mode] || [];
  const done = src.filter((i) => decisionOf(i)).length, total = Object.keys(saved.decisions).length;
  $("#ptext").textContent = (src.length ? `${done} of ${src.length} decided here; ` : "") + `${total} decided in all` +
    (storageOk ? "" : " (not saved: export them)");
  $("#bar div").style.width = (src.length ? 100 * done / src.length : 0) + "%";
  const shown = D.n_pairs > shownPairs.length ? `${shownPairs.length.toLocaleString()} of ${D.n_pairs.toLocaleString()} pairs (a random sample, seed ${D.seed})`
    : `${D.n_pairs.toLocaleString()} pairs`;
  $("#status").innerHTML = `${shown}; images: ${esc(D.encoding)}` +
    (storageOk ? "" : ` <span class=note>This browser does not let the page save: export before closing.</span>`);
}
function page() {
  const p = $("#page");
  if (state.mode === "help") {
    p.innerHTML = `<h2>How to review</h2><p>Look at each pair and decide: <b>Duplicate</b> (<kbd>D</kbd>) the same picture,
      <b>Keep both</b> (<kbd>K</kbd>) different pictures, <b>Skip</b> (<kbd>S</kbd>) not sure. <kbd>U</kbd> undoes the last decision.
      Arrows or <kbd>N</kbd>/<kbd>P</kbd> move between pairs; <kbd>V</kbd> switches between side by side, blink (the second image
      alternates with the first, aligned as the engine found) and difference (bright where the aligned images differ).</p>
      <p>Decisions are saved in this browser as you go, under the paths of the two images, so they stay right after a rerun.
      <b>Export</b> writes them as the decisions CSV the next run reads: <code>dupstudy dedup FOLDER --decisions decisions.csv</code>,
      or <code>dedup.decisions</code> in params.yaml for the pipeline. Keep both removes a pair before grouping; duplicate forces it.</p>
      <p><b>Audit removals</b> shows a random sample of the training images the keeper policy removed, each beside the image kept
      for it. <b>Precision sample</b> is review_sample.csv: label its pairs and the page shows the share that are true duplicates,
      with a Wilson 95 % interval; export it for <code>dupstudy precision</code>.</p>`;
    return;
  }
  const dec = decisionsCsv(), smp = sampleCsv();
  const n = dec.trim().split("\n").length - 1, labelled = D.sample.filter((i) => ["duplicate", "keep_both"].includes(decisionOf(i))).length;
  p.innerHTML = `<h2>Decisions</h2><p>${n} decisions (duplicate or keep both; skipped pairs are left out)` +
    (D.earlier.length ? `, with the ${D.earlier.length} this run already applied unless changed here` : "") +
    `. Run <code>dupstudy dedup FOLDER --decisions decisions.csv</code>, or set <code>dedup.decisions</code> in params.yaml.</p>
    <p><button id=dl-decisions>Download decisions.csv</button> <button id=copy-decisions>Copy</button></p>
    <textarea id=decisions-csv readonly>${esc(dec)}</textarea>
    <h2>Labelled precision sample</h2><p>${labelled} of ${D.sample.length} labelled. Run <code>dupstudy precision review_sample_labelled.csv</code>.</p>
    <p><button id=dl-sample>Download review_sample_labelled.csv</button></p><textarea id=sample-csv readonly>${esc(smp)}</textarea>
    <h2>This browser</h2><p><button id=clear>Forget every decision saved here</button></p>`;
}

// ------------------------------------------------------------------ interaction
function setFocus(k) {
  if (!list.length) return;
  state.focus = Math.max(0, Math.min(list.length - 1, k));
  const g = geometry(), grid = $("#grid"), top = 8 + Math.floor(state.focus / g.cols) * (g.h + 8);
  if (top < grid.scrollTop || top + g.h > grid.scrollTop + grid.clientHeight) grid.scrollTop = top - 8;
  drawVisible(false);
  for (const el of document.querySelectorAll(".card")) el.classList.toggle("focus", +el.dataset.k === state.focus);
}
function act(k, value) {
  if (!list[k]) return;
  decide(list[k].pair, value);
  state.focus = k;
  // the filtered list may change (a decision filter); keep the place
  render();
  setFocus(Math.min(k + 1, list.length - 1));
}
function setMode(mode) { state.mode = mode; state.focus = 0; $("#grid").scrollTop = 0; render(); }

document.addEventListener("click", (e) => {
  const t = e.target.closest("button");
  if (!t) return;
  if (t.dataset.mode) setMode(t.dataset.mode);
  else if (t.dataset.decide) act(+t.closest(".card").dataset.k, t.dataset.decide);
  else if (t.id === "dl-decisions") download("decisions.csv", decisionsCsv());
  else if (t.id === "dl-sample") download("review_sample_labelled.csv", sampleCsv());
  else if (t.id === "copy-decisions") navigator.clipboard?.writeText(decisionsCsv());
  else if (t.id === "clear" && confirm("Forget every decision saved in this browser for this dataset?")) {
    saved = { decisions: {}, history: [] }; save(); render();
  }
});
document.addEventListener("change", (e) => {
  const t = e.target;
  if (t.dataset.filter) state.filters[t.dataset.filter] = t.value;
  else if (t.id === "sort") state.sort = t.value;
  else if (t.id === "view") state.view = +t.value;
  else if (t.id === "size") state.size = +t.value;
  else return;
  state.focus = 0;
  render();
});
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape") { document.activeElement?.blur(); $("#grid").focus(); return; }  // back to the pairs
  if (e.target.matches?.("select, textarea, input") || e.altKey || e.metaKey) return;
  const key = e.key.toLowerCase(), g = geometry();
  if (e.ctrlKey) { if (key === "z") { e.preventDefault(); undoAndShow(); } return; }
  const grid = !$("#grid").hidden;
  if (KEYS[key] && grid) act(state.focus, KEYS[key]);
  else if (key === "u" && grid) undoAndShow();
  else if ((key === "arrowright" || key === "n") && grid) setFocus(state.focus + 1);
  else if ((key === "arrowleft" || key === "p") && grid) setFocus(state.focus - 1);
  else if (key === "arrowdown" && grid) setFocus(state.focus + g.cols);
  else if (key === "arrowup" && grid) setFocus(state.focus - g.cols);
  else if (key === "v") { state.view = (state.view + 1) % VIEWS.length; render(); }
  else if (key === "+" || key === "=") { state.size = Math.min(SIZES.length - 1, state.size + 1); render(); }
  else if (key === "-") { state.size = Math.max(0, state.size - 1); render(); }
  else if ("1234".includes(key) && key) setMode(["pairs", "audit", "precision", "export"][+key - 1]);
  else if (key === "?") setMode("help");
  else return;
  e.preventDefault();
});
function undoAndShow() {
  const key = undo();
  render();
  const k = list.findIndex((it) => pathKey(it.pair) === key);
  if (k >= 0) setFocus(k);
}
$("#grid").addEventListener("scroll", () => requestAnimationFrame(() => drawVisible(false)));
window.addEventListener("resize", () => render());
setInterval(() => {  // blink: the second image alternates with the first
  if (state.view !== 1) return;
  state.blinkOn = !state.blinkOn;
  for (const el of drawn.values()) {
    const it = list[+el.dataset.k], [ca, cb] = el.querySelectorAll("canvas");
    if (it) paint(ca.getContext("2d"), cb.getContext("2d"), it.pair, SIZES[state.size]);
  }
}, 600);
render();
document.body.dataset.ready = "1";
