"use strict";
(function () {
  const data = JSON.parse(document.getElementById("page-data").textContent);
  const NOT_RECORDED = data.not_recorded;

  // ---- sorting: a click on a header sorts its table; numbers high to low first, N/A always last ----
  function sortKey(row, index, numeric) {
    const cell = row.cells[index];
    const raw = cell ? (cell.dataset.v !== undefined ? cell.dataset.v : cell.textContent) : "";
    if (raw === "") return null;
    if (!numeric) return raw.toLowerCase();
    const value = parseFloat(raw);
    return Number.isNaN(value) ? null : value;
  }

  function sortTable(table, th) {
    const headers = Array.from(th.parentNode.children);
    const index = headers.indexOf(th);
    const numeric = th.dataset.type === "num";
    const first = numeric ? "descending" : "ascending";
    const other = numeric ? "ascending" : "descending";
    const direction = th.getAttribute("aria-sort") === first ? other : first;
    headers.forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", direction);
    const sign = direction === "ascending" ? 1 : -1;
    const body = table.tBodies[0];
    const rows = Array.from(body.rows).map(function (row) {
      return { row: row, key: sortKey(row, index, numeric), i: Number(row.dataset.i) };
    });
    rows.sort(function (a, b) {
      if (a.key === null || b.key === null) {
        if (a.key === b.key) return a.i - b.i;
        return a.key === null ? 1 : -1;
      }
      if (a.key < b.key) return -sign;
      if (a.key > b.key) return sign;
      return a.i - b.i;
    });
    const fragment = document.createDocumentFragment();
    rows.forEach(function (r) { fragment.appendChild(r.row); });
    body.appendChild(fragment);
  }

  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.tHead.addEventListener("click", function (event) {
      const th = event.target.closest("th");
      if (th && th.dataset.type) sortTable(table, th);
    });
  });

  // ---- filters: family, task-specific, name ----
  const search = document.getElementById("search");
  const boxes = {};
  document.querySelectorAll("#controls input[type=checkbox]").forEach(function (box) {
    boxes[box.dataset.filter] = box;
  });
  const filtered = Array.from(document.querySelectorAll("tr[data-model]"));

  function applyFilters() {
    const query = search.value.trim().toLowerCase();
    const shownModels = new Set();
    const allModels = new Set();
    filtered.forEach(function (row) {
      const family = row.dataset.family;
      let show = true;
      if (family && boxes[family] && !boxes[family].checked) show = false;
      if (row.dataset.taskSpecific === "1" && !boxes["task-specific"].checked) show = false;
      if (query && row.dataset.model.toLowerCase().indexOf(query) < 0) show = false;
      row.hidden = !show;
      allModels.add(row.dataset.model);
      if (show) shownModels.add(row.dataset.model);
    });
    document.getElementById("shown").textContent = shownModels.size + " of " + allModels.size + " models shown";
  }
  search.addEventListener("input", applyFilters);
  Object.keys(boxes).forEach(function (key) { boxes[key].addEventListener("change", applyFilters); });
  applyFilters();

  // ---- a model's per-task scores with their provenance ----
  const detail = document.getElementById("detail");
  const fields = data.fields;
  const at = {};
  fields.forEach(function (f, i) { at[f] = i; });

  function td(text, cls) {
    const cell = document.createElement("td");
    if (text === "" || text === null || text === undefined) {
      cell.textContent = NOT_RECORDED;
      cell.className = "missing" + (cls ? " " + cls : "");
    } else {
      cell.textContent = text;
      if (cls) cell.className = cls;
    }
    return cell;
  }

  function showModel(name) {
    const info = data.models[name] || {};
    const records = data.records[name] || [];
    document.getElementById("detail-title").textContent = name;
    const parts = [];
    if (info.registry) {
      parts.push(info.family + (info.task_specific ? ", task-specific" : "") + ", " + info.params_m + "M parameters");
      parts.push(info.id + " @ " + info.revision);
    } else {
      parts.push("not in the registry (published results only)");
    }
    parts.push(info.speed ? info.speed.toLocaleString("en") + " sentences/s measured here" : "no speed measured");
    parts.push(records.length + " task score(s)");
    document.getElementById("detail-info").textContent = parts.join(" · ");
    const side = document.querySelector("#detail-datasets tbody");
    side.textContent = "";
    (info.datasets || []).forEach(function (d) {
      const row = document.createElement("tr");
      const number = function (v, signed) {
        if (v === null) return td("—", "num na");
        return td((signed && v > 0 ? "+" : "") + v.toFixed(2), "num");
      };
      row.appendChild(td(d[0]));
      row.appendChild(number(d[1], false));
      row.appendChild(number(d[2], false));
      const diff = number(d[3], true);
      if (d[4]) diff.className += " " + d[4];
      row.appendChild(diff);
      side.appendChild(row);
    });
    const body = detail.querySelector("#detail-table tbody");
    body.textContent = "";
    if (!records.length) {
      const row = body.insertRow();
      const cell = row.insertCell();
      cell.colSpan = 11;
      cell.textContent = "No per-task score was read for this model: its rows come from the published table only.";
    }
    records.forEach(function (r) {
      const row = document.createElement("tr");
      let task = r[at.task];
      if (!r[at.counted]) task += " (not counted: its parts are all there)";
      if (r[at.note]) task += " — " + r[at.note];
      row.appendChild(td(r[at.dataset]));
      row.appendChild(td(task));
      row.appendChild(td(r[at.origin]));
      row.appendChild(td(Number(r[at.score]).toFixed(2), "num"));
      row.appendChild(td(r[at.metric]));
      row.appendChild(td(r[at.source], "path"));
      row.appendChild(td(r[at.mteb_version]));
      row.appendChild(td(r[at.date]));
      row.appendChild(td(r[at.data_source], "path"));
      row.appendChild(td(r[at.data_fingerprint] ? String(r[at.data_fingerprint]).slice(0, 16) : ""));
      row.appendChild(td(r[at.harness_version]));
      body.appendChild(row);
    });
    detail.hidden = false;
    detail.scrollTop = 0;
    document.getElementById("detail-close").focus();
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("button.model");
    if (button) showModel(button.dataset.model);
    const point = event.target.closest('#figure g[id^="point"]');  // id: point<panel>-<model>
    if (point) showModel(point.id.slice(point.id.indexOf("-") + 1));
  });
  document.getElementById("detail-close").addEventListener("click", function () { detail.hidden = true; });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") detail.hidden = true;
  });

  // ---- compare two models (statistics computed when the page was written) ----
  const selectA = document.getElementById("compare-a");
  const selectB = document.getElementById("compare-b");
  const names = [];
  Object.keys(data.pairs).forEach(function (origin) {
    (data.pairs[origin].models || []).forEach(function (m) { if (names.indexOf(m) < 0) names.push(m); });
  });
  names.forEach(function (m, i) {
    selectA.add(new Option(m, m, false, i === 0));
    selectB.add(new Option(m, m, false, i === 1));
  });

  function fixed(v) { return v === null || v === undefined ? "N/A" : v.toFixed(2); }
  function pValue(p) {
    if (p === null || p === undefined) return "N/A";
    return p >= 0.001 ? String(Number(p.toPrecision(2))) : p.toExponential(1);
  }

  function showComparison() {
    const body = document.querySelector("#compare-table tbody");
    body.textContent = "";
    const a = selectA.value, b = selectB.value;
    const origins = Object.keys(data.sources).filter(function (o) { return data.pairs[o]; });
    if (!names.length || !origins.length) {
      const cell = body.insertRow().insertCell();
      cell.colSpan = 6;
      cell.textContent = "No per-task scores were read: nothing to compare.";
      return;
    }
    origins.forEach(function (origin) {
      const group = data.pairs[origin];
      const row = body.insertRow();
      row.insertCell().textContent = data.sources[origin];
      if (group.skipped) {
        const cell = row.insertCell(); cell.colSpan = 5; cell.textContent = group.skipped; return;
      }
      let stats = group.pairs[a + "\t" + b];
      let flip = false;
      if (!stats && group.pairs[b + "\t" + a]) { stats = group.pairs[b + "\t" + a]; flip = true; }
      if (a === b) {
        const cell = row.insertCell(); cell.colSpan = 5; cell.textContent = "the same model twice"; return;
      }
      if (!stats) {
        const missing = [a, b].filter(function (m) { return group.models.indexOf(m) < 0; });
        const cell = row.insertCell(); cell.colSpan = 5;
        cell.textContent = "no scores for " + missing.join(" and ") + " in this source";
        return;
      }
      const mean = stats.mean === null ? null : (flip ? -stats.mean : stats.mean);
      const low = stats.low === null ? null : (flip ? -stats.high : stats.low);
      const high = stats.high === null ? null : (flip ? -stats.low : stats.high);
      [String(stats.n), fixed(mean), low === null ? "N/A" : "[" + fixed(low) + ", " + fixed(high) + "]",
       pValue(stats.p)].forEach(function (text) {
        const cell = row.insertCell(); cell.textContent = text; cell.className = "num";
      });
      const groups = Object.keys(stats.groups).map(function (g) { return g + " " + stats.groups[g]; });
      row.insertCell().textContent = (groups.join(", ") || "none shared") + (stats.note ? " (" + stats.note + ")" : "");
    });
  }
  selectA.addEventListener("change", showComparison);
  selectB.addEventListener("change", showComparison);
  showComparison();

  window.harnessReady = performance.now();
  document.documentElement.dataset.ready = "1";
})();
