// The search page: send the chosen query (its mask, labels and filters) to /api/search
// and draw the ranked gallery, a page at a time.
const $ = (id) => document.getElementById(id);
let offset = 0;

function figure(src, caption, cls) {
  const box = Object.assign(document.createElement("div"), { className: cls });
  box.appendChild(Object.assign(document.createElement("img"), { src, alt: caption }));
  box.appendChild(Object.assign(document.createElement("div"), { textContent: caption }));
  return box;
}

function labelText(pid, camid, clothes) {
  const show = (v) => (v === null || v === undefined ? "?" : v);
  return `id ${show(pid)} / cam ${show(camid)} / outfit ${show(clothes)}`;
}

function mark(same) {
  return same === true ? "=" : same === false ? "\u2260" : "?";
}

function form() {
  const body = new FormData();
  body.append("image", $("image").files[0]);
  if ($("mask") && $("mask").files[0]) body.append("mask", $("mask").files[0]);
  body.append("top_k", $("topk").value);
  body.append("offset", String(offset));
  for (const flag of ["exclude_same_camera", "other_clothes_only"]) {
    body.append(flag, $(flag).checked ? "true" : "false");
  }
  const cams = [...document.querySelectorAll(".camera:checked")].map((c) => c.value);
  if (cams.length) body.append("cameras", cams.join(","));
  for (const key of ["pid", "camid", "clothes"]) {
    if ($(key).value !== "") body.append(key, $(key).value);
  }
  return body;
}

function showQuery(data) {
  const q = data.query;
  const row = [figure(URL.createObjectURL($("image").files[0]),
    `query: ${labelText(q.pid, q.camid, q.clothes)}`, "query")];
  if (data.mask) row.push(figure(data.mask, `body mask given to the model (${data.mask_source})`, "query mask"));
  else row.push(Object.assign(document.createElement("p"), { className: "muted", textContent: `mask: ${data.mask_source}` }));
  $("query").replaceChildren(...row);
}

function hitCell(hit) {
  const cell = document.createElement("div");
  const known = hit.same.identity !== null;
  cell.className = "hit " + (known ? (hit.same.identity ? "same" : "other") : "unknown");
  cell.dataset.path = hit.path;
  const img = Object.assign(document.createElement("img"), { src: hit.thumbnail, alt: hit.path });
  cell.appendChild(img);
  const s = hit.same;
  const lines = [`${hit.rank}. ${hit.score.toFixed(3)}`, labelText(hit.pid, hit.camid, hit.clothes),
    `id ${mark(s.identity)} cam ${mark(s.camera)} outfit ${mark(s.outfit)}`];
  for (const line of lines) cell.appendChild(Object.assign(document.createElement("div"), { textContent: line }));
  cell.addEventListener("click", () => {
    $("enlarged-image").src = hit.image;
    $("enlarged-text").textContent = `${hit.path}: ${lines.join(", ")}`;
    $("enlarged").showModal();
  });
  return cell;
}

async function search(more = false) {
  if (!$("image").files[0]) return;
  offset = more ? offset + Number($("topk").value) : 0;
  $("status").className = "muted";
  $("status").textContent = "searching...";
  if (!more) $("results").replaceChildren();
  let response, data;
  try {
    response = await fetch("/api/search", { method: "POST", body: form() });
    // every error of the service is JSON {"error": ...}; anything else says only its status
    data = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
  } catch (e) {
    data = { error: `the server did not answer (${e.message})` };
  }
  if (!response || !response.ok) {
    $("status").className = "error";
    $("status").textContent = data.error;
    $("more").hidden = true;
    return;
  }
  showQuery(data);
  for (const hit of data.results) $("results").appendChild(hitCell(hit));
  const shown = $("results").children.length;
  $("status").textContent = `${shown} results, mask: ${data.mask_source}`;
  $("more").hidden = !data.more;
}

$("image").addEventListener("change", () => search());
if ($("mask")) $("mask").addEventListener("change", () => search());
for (const input of document.querySelectorAll("#filters input")) input.addEventListener("change", () => search());
$("more").addEventListener("click", () => search(true));
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  $("image").files = e.dataTransfer.files;
  search();
});
