/* Task center: the 订单导入 card (order import from a spreadsheet).
 *
 * Pick an .xlsx or .csv file; the server reads it (POST station/order/batch/preview: the
 * same checks the import worker makes) and the card shows the first rows and every bad
 * order's reason; 提交导入 sends the previewed order_data to station/order/batch/submit,
 * and the task shows up in 我的任务. The template comes from station/order/batch/template.
 * A file that is not a spreadsheet, too large or empty is refused here with a reason and
 * nothing is submitted. No library: the file is parsed on the server (docs/imports.md).
 * It shares the login (localStorage) with app.js and touches nothing of app.js's DOM
 * except pressing 刷新 (#refresh) after a submit.
 */
"use strict";

(() => {
  const TOKEN_KEY = "taskCenter.token";
  const API_BASE = new URL("../", location.href);
  const MAX_FILE_MB = 4;               // IMPORT_FILE_MAX_MB (the server checks it too)
  const EXTENSIONS = /\.(xlsx|csv)$/i;
  const COLUMNS = ["customer_name", "customer_id", "address", "area", "order_time",
                   "receive_time", "remark", "sku", "name", "unit", "quantity", "unit_price"];

  const card = document.getElementById("import-card");
  if (!card) return;
  let preview = null;                  // the last good preview answer
  let cyclesFor = null;                // the token whose station's cycles are listed

  const TC = window.TaskCenter;        // api.js: ApiError, refusal, showErrorIn
  const { ApiError } = TC;

  function h(tag, attrs = {}, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "text") el.textContent = v;
      else if (v !== false && v !== null && v !== undefined) el.setAttribute(k, v === true ? "" : v);
    }
    el.append(...children.filter((c) => c !== null && c !== undefined));
    return el;
  }

  // -- the card's markup --------------------------------------------------------------
  const cycle = h("select", { name: "time_config_id", required: true },
                  h("option", { value: "", text: "加载中…" }));
  const file = h("input", { type: "file", name: "file", accept: ".xlsx,.csv", id: "import-file" });
  const tplXlsx = h("button", { type: "button", class: "secondary", id: "import-template-xlsx",
                                text: "下载模板（xlsx）" });
  const tplCsv = h("button", { type: "button", class: "secondary", id: "import-template-csv",
                               text: "下载模板（csv）" });
  const status = h("p", { class: "muted", id: "import-status", role: "status" });
  const error = h("div", { class: "error", id: "import-error", role: "alert", hidden: true });
  const summary = h("p", { class: "import-summary", id: "import-summary", hidden: true });
  const problems = h("ul", { class: "import-problems", id: "import-problems", hidden: true });
  const table = h("table", { class: "import-preview", id: "import-preview" });
  const tableWrap = h("div", { class: "import-table", hidden: true }, table);
  const submit = h("button", { type: "button", id: "import-submit", disabled: true,
                               text: "提交导入" });
  card.append(
    h("summary", { text: "订单导入" }),
    h("div", { class: "grid" },
      h("label", {}, "运营周期", cycle),
      h("label", { for: "import-file" }, "选择文件（.xlsx 或 .csv，不超过 " + MAX_FILE_MB + " MB）", file),
      h("p", { class: "muted wide" },
        "第一行为表头（列名与模板一致）；每行一个商品，订单列全部留空的行属于上一行的订单。"),
      h("div", { class: "actions wide" }, tplXlsx, tplCsv)),
    error, status, summary, problems, tableWrap,
    h("div", { class: "actions" }, submit));

  // -- API ----------------------------------------------------------------------------
  async function api(method, path, { query, body } = {}) {
    const url = new URL(path, API_BASE);
    for (const [k, v] of Object.entries(query || {})) url.searchParams.set(k, v);
    const headers = { Authorization: "Bearer " + (localStorage.getItem(TOKEN_KEY) || "") };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let resp;
    try {
      resp = await fetch(url, { method, headers, cache: "no-store",
                                body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw new ApiError("无法连接服务器，请稍后重试");
    }
    let payload = null;
    try {
      payload = await resp.json();
    } catch (e) {
      payload = null;
    }
    if (!resp.ok || !payload || payload.code !== 0) throw TC.refusal(payload, resp.status);
    return payload.data;
  }

  function showError(msg) {             // a text, or an ApiError with its problems
    TC.showErrorIn(error, msg);
  }

  function reset(keepError) {
    preview = null;
    submit.disabled = true;
    submit.textContent = "提交导入";
    summary.hidden = problems.hidden = tableWrap.hidden = true;
    problems.replaceChildren();
    table.replaceChildren();
    if (!keepError) error.hidden = true;
    status.textContent = "";
  }

  // -- operation cycles ---------------------------------------------------------------
  async function loadCycles() {
    const token = localStorage.getItem(TOKEN_KEY) || "";
    if (!token || cyclesFor === token) return;
    cyclesFor = token;
    try {
      const data = await api("GET", "station/time_config/list");
      cycle.replaceChildren(...data.time_configs.map((c) => h("option", {
        value: c.time_config_id, text: `${c.name}（${c.time_config_id}）` })));
      if (!data.time_configs.length) {
        cycle.append(h("option", { value: "", text: "本站点没有运营周期" }));
      }
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      cyclesFor = null;
      cycle.replaceChildren(h("option", { value: "", text: "运营周期加载失败" }));
      showError(e);
    }
  }

  // -- template -----------------------------------------------------------------------
  function bytesOf(b64) {
    return Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
  }

  async function downloadTemplate(format, button) {
    button.disabled = true;
    try {
      const data = await api("GET", "station/order/batch/template", { query: { format } });
      const url = URL.createObjectURL(new Blob([bytesOf(data.content_base64)],
                                               { type: data.content_type }));
      const a = h("a", { href: url, download: data.file_name, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);   // after the download started
      error.hidden = true;
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      showError(e);
    } finally {
      button.disabled = false;
    }
  }

  // -- reading a file -----------------------------------------------------------------
  function base64Of(buffer) {
    const bytes = new Uint8Array(buffer);
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(text);
  }

  // Refusals the page can tell before sending anything.
  function refusal(f) {
    if (!EXTENSIONS.test(f.name)) {
      return "只能导入 .xlsx 或 .csv 表格文件（not a spreadsheet: choose an .xlsx or .csv file）";
    }
    if (f.size === 0) return "文件是空的（the file is empty）";
    if (f.size > MAX_FILE_MB * 1024 * 1024) {
      return `文件超过 ${MAX_FILE_MB} MB，请拆分后分批导入（the file is larger than ${MAX_FILE_MB} MB）`;
    }
    return "";
  }

  async function onFile() {
    reset(false);
    const f = file.files && file.files[0];
    if (!f) return;
    const refused = refusal(f);
    if (refused) {
      showError(refused);
      status.textContent = "未提交任何数据";
      return;
    }
    status.textContent = `正在读取 ${f.name} …`;
    loadCycles();
    try {
      const content = base64Of(await f.arrayBuffer());
      const data = await api("POST", "station/order/batch/preview",
                             { body: { file_name: f.name, content_base64: content } });
      if (file.files[0] !== f) return;           // another file was picked meanwhile
      show(data);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      reset(true);
      showError(e);
      status.textContent = "未提交任何数据";
    }
  }

  function show(data) {
    preview = data;
    status.textContent = "";
    summary.hidden = false;
    summary.textContent = `${data.file_name}：共 ${data.sheet_rows} 行，${data.order_count} 条订单；` +
      `${data.valid} 条可导入，${data.invalid} 条有问题` +
      (data.ignored_columns.length ? `；未识别的列（不导入）：${data.ignored_columns.join("、")}` : "");
    summary.dataset.invalid = data.invalid;
    const reasonOf = new Map(data.problems.map((p) => [p.order, p.reason]));
    problems.replaceChildren(...data.problems.map((p) => h("li", { "data-rows": p.rows },
      h("span", { class: "rows", text: `表格第 ${p.rows} 行` }), " ",
      h("span", { class: "reason", text: p.reason }))));
    problems.hidden = data.problems.length === 0;
    const head = h("tr", {}, h("th", { text: "行" }), h("th", { text: "问题" }),
                   ...COLUMNS.map((c) => h("th", { text: c })));
    const rows = data.preview.map((r) => {
      const reason = reasonOf.get(r.order) || "";
      return h("tr", { class: reason ? "bad" : "ok", "data-row": r.row },
               h("td", { text: String(r.row) }),
               h("td", { class: "problem", text: reason ? reason.replace(/^[^：]*：/, "") : "✓" }),
               ...COLUMNS.map((c) => h("td", { text: r.cells[c] || "" })));
    });
    table.replaceChildren(h("thead", {}, head), h("tbody", {}, ...rows));
    tableWrap.hidden = false;
    submit.disabled = false;
    submit.textContent = data.invalid
      ? `提交导入（${data.valid} 条可导入；${data.invalid} 条有问题的订单不会导入，任务结束后列在错误报告中）`
      : `提交导入（${data.valid} 条订单）`;
  }

  async function onSubmit() {
    if (!preview) return;
    if (!cycle.value) {
      showError("请选择运营周期（choose an operation cycle）");
      return;
    }
    submit.disabled = true;
    try {
      const stamp = new Date().toISOString().replace(/\D/g, "").slice(0, 14);
      const data = await api("POST", "station/order/batch/submit", { body: {
        task_id: `ui-import-${stamp}-${Math.random().toString(36).slice(2, 8)}`,
        time_config_id: cycle.value, file_name: preview.file_name,
        order_data: preview.order_data } });
      reset(false);
      file.value = "";
      status.textContent = `已提交订单导入任务（任务 ${data.task_id}），进度见下方“我的任务”`;
      const refresh = document.getElementById("refresh");
      if (refresh) refresh.click();
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      showError(e);
      submit.disabled = false;
    }
  }

  file.addEventListener("change", onFile);
  submit.addEventListener("click", onSubmit);
  tplXlsx.addEventListener("click", () => downloadTemplate("xlsx", tplXlsx));
  tplCsv.addEventListener("click", () => downloadTemplate("csv", tplCsv));
  card.addEventListener("toggle", () => { if (card.open) loadCycles(); });
  if (card.open) loadCycles();
})();
