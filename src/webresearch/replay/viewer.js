"use strict";
// The viewer's script: episodes and their steps, from the JSON API. Store text is only
// ever set as text (textContent), and only http(s) URLs become links.

const params = new URLSearchParams(location.search);
const state = { run: document.body.dataset.run || params.get("run"),
                episode: params.get("episode") };
const el = (tag, cls, text) => { const e = document.createElement(tag);
  if (cls) e.className = cls; if (text !== undefined) e.textContent = String(text); return e; };
// An API answer: {ok, data}. Failure is the HTTP status, never a field of the data (an
// episode's own "error" field says how the episode ended, not that loading it failed).
const get = async (url) => { const response = await fetch(url);
  return { ok: response.ok, data: await response.json() }; };
const num = (value, digits) => (typeof value === "number" ? value.toFixed(digits) : "-");

function safeUrl(url) {
  // The URL if it is http(s), else null (javascript:, data:, relative: never a link).
  try {
    const parsed = new URL(String(url));
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch (error) { return null; }
}

function link(url, text) {
  const href = safeUrl(url);
  if (href === null) return el("span", "", text);
  const a = el("a", "", text);
  a.href = href; a.target = "_blank"; a.rel = "noopener noreferrer";
  return a;
}

async function loadEpisodes() {
  const q = new URLSearchParams({ run: state.run || "",
    dataset: document.getElementById("dataset").value,
    status: document.getElementById("status").value,
    min_reward: document.getElementById("min").value,
    max_reward: document.getElementById("max").value });
  const { ok, data } = await get("/api/episodes?" + q), box = document.getElementById("episodes");
  if (!ok) { box.textContent = ""; box.append(el("p", "bad", data.error)); return; }
  for (const [id, values] of [["dataset", data.datasets], ["status", data.statuses]]) {
    const select = document.getElementById(id), keep = select.value;
    while (select.options.length > 1) select.remove(1);
    for (const v of values) select.append(new Option(v || "-", v));
    select.value = keep;
  }
  document.getElementById("count").textContent = `(${data.total})`;
  box.textContent = "";
  for (const row of data.rows) {
    const div = el("div", "row" + (row.episode_id === state.episode ? " active" : ""));
    const task = el("span", "", row.task_id); task.title = row.task_id;
    div.append(task, el("span", "meta", row.dataset || "-"),
               el("span", row.status === "answered" ? "ok" : "bad", row.status),
               el("span", "", num(row.reward, 2)));
    div.onclick = () => { state.episode = row.episode_id; showEpisode(); loadEpisodes(); };
    box.append(div);
  }
  if (!state.episode && data.rows.length) { state.episode = data.rows[0].episode_id; showEpisode(); }
}

function stepView(step, i) {
  const box = el("div", "step"), think = /<think>([\s\S]*?)<\/think>/.exec(step.action);
  box.append(el("div", "meta", `step ${i + 1} · env ${(step.latency_s * 1000).toFixed(1)} ms · ` +
                `policy ${(step.policy_s * 1000).toFixed(1)} ms`));
  if (think) box.append(el("div", "think", think[1].trim()));
  box.append(el("div", "tool", `${step.tool} ${JSON.stringify(step.arguments)}`));
  for (const call of step.web) {
    if (call.kind === "search") {
      box.append(el("div", "meta", `search “${call.request}” · ${call.response.hits.length} hits` +
                    (call.response.error ? ` · ${call.response.error}` : "")));
      for (const hit of call.response.hits.slice(0, 5)) {
        const h = el("div", "hit");
        h.append(link(hit.url, hit.title), el("div", "meta", hit.url),
                 el("div", "meta", hit.snippet));
        box.append(h);
      }
    } else if (call.kind === "read") {
      const [url, segment] = JSON.parse(call.request);
      box.append(el("div", "meta", `read ${url} segment ${segment + 1} · ` +
                    (call.response.error || call.response.information.slice(0, 200) || "nothing relevant")));
    } else {
      box.append(el("div", "meta", `page ${call.request} · ${call.response.error || call.response.title}`));
    }
  }
  if (step.tool === "browse" || step.tool === "invalid") box.append(el("pre", "", step.observation.slice(0, 1200)));
  if (step.error) box.append(el("div", "bad", step.error));
  return box;
}

async function showEpisode() {
  const { ok, data: ep } = await get("/api/episode/" + encodeURIComponent(state.episode));
  const box = document.getElementById("episode");
  box.textContent = "";
  if (!ok) { box.append(el("h2", "", "Episode"), el("p", "bad", ep.error)); return; }
  box.append(el("h2", "", ep.task.question),
             el("div", "meta", `${ep.episode_id} · ${ep.task.dataset || "-"} · ${ep.task.kind || ""} · ` +
                `group ${ep.group} · ${ep.steps.length} steps · ${num(ep.seconds, 2)} s`));
  ep.steps.forEach((s, i) => {  // a step the script cannot draw never hides the others
    try { box.append(stepView(s, i)); }
    catch (error) { box.append(el("div", "step bad", `step ${i + 1}: ${error}`)); }
  });
  const outcome = el("div", "outcome");
  outcome.append(el("div", "", `answer: ${ep.answer ?? "(none)"}`),
                 el("div", "", `gold: ${ep.task.answers.join(" | ")}`),
                 el("div", ep.reward > 0 ? "ok" : "bad",
                    `reward ${num(ep.reward, 3)} · F1 ${num(ep.f1, 3)} · EM ${ep.em ?? "-"} · ${ep.status}`));
  if (ep.error) outcome.append(el("div", "bad", `error: ${ep.error}`));
  if (ep.traceback) outcome.append(el("pre", "", ep.traceback));
  box.append(outcome);
}

for (const id of ["dataset", "status", "min", "max"])
  document.getElementById(id).onchange = loadEpisodes;
loadEpisodes().then(() => { if (state.episode) showEpisode(); });
