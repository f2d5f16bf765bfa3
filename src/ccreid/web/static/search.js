// The search page: send the chosen query (and mask) to /api/search, draw the ranked gallery.
const $ = (id) => document.getElementById(id);

function show(file, target) {
  const img = document.createElement("img");
  img.src = URL.createObjectURL(file);
  img.alt = "query";
  target.replaceChildren(Object.assign(document.createElement("div"), { className: "query" }));
  target.firstChild.appendChild(img);
}

async function search() {
  const image = $("image").files[0];
  if (!image) return;
  show(image, $("query"));
  const body = new FormData();
  body.append("image", image);
  if ($("mask").files[0]) body.append("mask", $("mask").files[0]);
  body.append("top_k", $("topk").value);
  $("status").textContent = "searching...";
  $("results").replaceChildren();
  let response, data;
  try {
    response = await fetch("/api/search", { method: "POST", body });
    // every error of the service is JSON {"error": ...}; anything else says only its status
    data = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
  } catch (e) {
    data = { error: `the server did not answer (${e.message})` };
  }
  if (!response || !response.ok) {
    $("status").className = "error";
    $("status").textContent = data.error;
    return;
  }
  $("status").className = "muted";
  $("status").textContent = `${data.results.length} results, mask: ${data.mask_source}`;
  const queryPid = data.query_pid;
  for (const hit of data.results) {
    const cell = document.createElement("div");
    const labelled = hit.pid >= 0 && queryPid !== null && queryPid >= 0;
    cell.className = "hit" + (labelled ? (hit.pid === queryPid ? " same" : " other") : "");
    cell.dataset.path = hit.path;
    const img = document.createElement("img");
    img.src = hit.thumbnail;
    img.alt = hit.path;
    cell.appendChild(img);
    cell.appendChild(document.createTextNode(`${hit.rank}. ${hit.score.toFixed(3)}`));
    $("results").appendChild(cell);
  }
}

$("image").addEventListener("change", search);
$("mask").addEventListener("change", search);
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  $("image").files = e.dataTransfer.files;
  search();
});
