/* Task center: the caller's tasks from /task/list, polled while any is unfinished.
 *
 * No build step, no library. The API is reached relative to this page (…/ui/ -> …/), so a
 * stage prefix such as /api/ works unchanged. Log in by pasting the station token, or open
 * the page as …/ui/#token=…&source_shop_id=…&target_shop_id=… (what `make run` prints); the
 * token is kept in localStorage and the fragment is removed from the address bar.
 */
"use strict";

(() => {
  const STATUS = { 1: "已经提交", 2: "正在执行", 3: "已经完成", 4: "部分成功", 5: "执行失败" };
  const TYPES = { 0: "导入", 1: "导出", 2: "处理" };
  const FINISHED = new Set([3, 4, 5]);
  const FAST_POLL_MS = 1000;          // while any task is unfinished
  const IDLE_POLL_MS = [5000, 10000, 20000, 30000];   // backing off once all are finished
  const TOKEN_KEY = "taskCenter.token";
  const PREFILL_KEY = "taskCenter.prefill";
  const API_BASE = new URL("../", location.href);

  const $ = (id) => document.getElementById(id);
  const tasksById = new Map();        // task_id -> <li>
  let pollTimer = null;
  let idleStep = 0;
  let loading = false;
  let again = false;                  // a refresh was asked for while one was in flight

  class ApiError extends Error {}

  // -- session ------------------------------------------------------------------------
  function token() { return localStorage.getItem(TOKEN_KEY) || ""; }

  function claims(jwt) {
    try {
      const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const bytes = Uint8Array.from(atob(part), (ch) => ch.charCodeAt(0));
      const payload = JSON.parse(new TextDecoder().decode(bytes));
      return payload && typeof payload === "object" ? payload : null;
    } catch (e) {
      return null;
    }
  }

  // A link's #token= logs in, but never silently replaces a stored login (a crafted link
  // would move the user into another station's view): the user is asked first. The
  // fragment leaves the address bar (and the history) whatever the answer.
  function readFragment() {
    if (!location.hash.startsWith("#")) return;
    const params = new URLSearchParams(location.hash.slice(1));
    history.replaceState(null, "", location.pathname + location.search);
    const offered = (params.get("token") || "").trim();
    if (offered && offered !== token()) {
      const next = claims(offered);
      if (!next) {
        showError("链接中的令牌格式不正确，未切换登录");
        return;
      }
      const current = claims(token());
      if (current && !confirm(`此链接将把登录切换为站点 ${next.station_id || next.sub || "?"}` +
          `（当前登录：站点 ${current.station_id || current.sub || "?"}）。是否切换？`)) {
        return;           // keep the current login; ignore the link's form values too
      }
      localStorage.setItem(TOKEN_KEY, offered);
      tasksById.clear();
      $("tasks").replaceChildren();
    }
    const prefill = {};
    for (const name of ["source_shop_id", "target_shop_id", "category"]) {
      if (params.get(name)) prefill[name] = params.get(name);
    }
    if (Object.keys(prefill).length) localStorage.setItem(PREFILL_KEY, JSON.stringify(prefill));
  }

  // Times come as ISO 8601 with the station's offset ("2026-12-02T14:14:42+08:00"): shown
  // as that wall clock, named by its zone, whatever the browser's own zone is.
  function shownTime(iso) {
    const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(iso || "");
    if (!m) return iso || "-";
    const zone = m[3] === "+08:00" ? "北京时间" : (m[3] === "Z" ? "UTC" : `UTC${m[3]}`);
    return `${m[1]} ${m[2]} ${zone}`;
  }

  function showLoggedIn() {
    const c = claims(token());
    const loggedIn = c !== null;
    $("login").hidden = loggedIn;
    $("app").hidden = !loggedIn;
    $("who").hidden = !loggedIn;
    if (!loggedIn) {
      stopPolling();
      return;
    }
    $("station").textContent = "站点 " + (c.station_id || c.sub || "");
    prefillForms();
    refresh(true);
  }

  function logout(message) {
    localStorage.removeItem(TOKEN_KEY);
    tasksById.clear();
    $("tasks").replaceChildren();
    showLoggedIn();
    if (message) showError(message);
  }

  // -- messages -----------------------------------------------------------------------
  // An action's error stays until the next action succeeds; a failed poll's error goes
  // with the next poll that works.
  let errorFromPoll = false;

  function showError(msg, fromPoll = false) {
    $("error").textContent = msg;
    $("error").hidden = false;
    errorFromPoll = fromPoll;
  }

  function clearError() { $("error").hidden = true; }

  // A notice, optionally with a download link; returns the link element.
  function showNotice(text, link) {
    const box = $("notice");
    box.replaceChildren(document.createTextNode(text));
    box.hidden = false;
    if (!safeUrl(link)) return null;
    const a = document.createElement("a");
    a.href = link;
    a.textContent = "下载文件";
    a.setAttribute("download", "");
    box.append(" ", a);
    return a;
  }

  // -- API ----------------------------------------------------------------------------
  async function api(method, path, { query, body } = {}) {
    const url = new URL(path, API_BASE);
    for (const [k, v] of Object.entries(query || {})) url.searchParams.set(k, v);
    const headers = { Authorization: "Bearer " + token() };
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
    if (resp.status === 401 || resp.status === 403) {   // the token is refused: log in again
      logout((payload && payload.msg) || "登录已失效，请重新登录");
      throw new ApiError((payload && payload.msg) || "登录已失效");
    }
    if (!resp.ok || !payload || payload.code !== 0) {
      throw new ApiError((payload && payload.msg) || `请求失败（HTTP ${resp.status}）`);
    }
    return payload.data;
  }

  // -- task list ----------------------------------------------------------------------
  function stopPolling() {
    if (pollTimer !== null) clearTimeout(pollTimer);
    pollTimer = null;
  }

  function schedule(allFinished) {
    stopPolling();
    let delay = FAST_POLL_MS;
    if (allFinished) {
      delay = IDLE_POLL_MS[Math.min(idleStep, IDLE_POLL_MS.length - 1)];
      idleStep += 1;
    } else {
      idleStep = 0;
    }
    $("poll-state").textContent = allFinished
      ? `所有任务已结束，${Math.round(delay / 1000)} 秒后刷新`
      : "任务执行中，每秒刷新";
    pollTimer = setTimeout(() => refresh(false), delay);
  }

  async function refresh(userAction) {
    if (!token()) return;
    if (userAction) idleStep = 0;
    if (loading) {                    // its answer may predate the action: ask again after it
      again = true;
      return;
    }
    loading = true;
    again = false;
    try {
      const data = await api("GET", "task/list");
      render(data.tasks);
      $("tasks").dataset.loads = Number($("tasks").dataset.loads || 0) + 1;   // loads so far
      $("more").hidden = data.tasks.length < data.limit;
      $("more").textContent = `仅显示最新的 ${data.limit} 个任务；隐藏已结束的任务可查看更早的任务`;
      if (errorFromPoll) clearError();
      schedule(data.finish);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      if (token()) {
        showError(e.message, true);
        schedule(true);
      }
    } finally {
      loading = false;
    }
    if (again) await refresh(true);
  }

  function render(tasks) {
    const list = $("tasks");
    const seen = new Set();
    tasks.forEach((task, index) => {
      seen.add(task.task_id);
      let li = tasksById.get(task.task_id);
      if (!li) {
        li = $("task-template").content.firstElementChild.cloneNode(true);
        li.dataset.taskId = task.task_id;
        li.querySelector(".cancel").addEventListener("click", () => cancelTask(task.task_id));
        li.querySelector(".retry").addEventListener("click", () => retryTask(task.task_id));
        li.querySelector(".hide").addEventListener("click",
          (event) => hideTasks([task.task_id], event.currentTarget));
        tasksById.set(task.task_id, li);
      }
      update(li, task);
      if (list.children[index] !== li) list.insertBefore(li, list.children[index] || null);
    });
    for (const [id, li] of tasksById) {
      if (!seen.has(id)) {
        li.remove();
        tasksById.delete(id);
      }
    }
    $("empty").hidden = tasks.length > 0;
  }

  // Only http(s) links are followed (a result is data, never a script URL).
  function safeUrl(href) { return typeof href === "string" && /^https?:\/\//i.test(href) ? href : ""; }

  function setLink(a, url) {
    const href = safeUrl(url);
    a.hidden = !href;
    if (href) a.href = href;
    else a.removeAttribute("href");
  }

  function update(li, task) {
    const finished = FINISHED.has(task.status);
    const counts = task.counts || { total: 0, succeeded: 0, failed: 0 };
    const result = task.result && typeof task.result === "object" ? task.result : {};
    const progress = Math.max(0, Math.min(100, Number(task.progress) || 0));
    li.dataset.status = task.status;
    li.querySelector(".name").textContent = task.business_name || task.task_name;
    li.querySelector(".type").textContent = TYPES[task.type] || "任务";
    const status = li.querySelector(".status");
    status.textContent = task.cancelled && !finished ? "正在取消" : (STATUS[task.status] || "未知");
    li.querySelector(".cancelled").hidden = !(task.cancelled && finished);
    status.className = `badge status s${task.status}`;
    const bar = li.querySelector("progress");
    bar.value = progress;
    bar.setAttribute("aria-label", `进度 ${progress}%`);
    li.querySelector(".percent").textContent = `${progress}%`;
    const reason = li.querySelector(".reason");
    reason.textContent = task.reason || "";
    reason.hidden = !task.reason;
    const cancelledItems = Number(counts.cancelled) || 0;
    // Tasks that do not count items one by one (an export) show their total only.
    const counted = counts.succeeded + counts.failed + cancelledItems > 0 || task.type !== 1;
    li.querySelector(".counts").textContent = `共 ${counts.total} 项` +
      (counted ? ` · 成功 ${counts.succeeded} · 失败 ${counts.failed}` : "") +
      (cancelledItems ? ` · 已取消 ${cancelledItems}` : "");
    li.querySelector(".time").textContent =
      `创建于 ${shownTime(task.create_time)}` + (task.run_count > 1 ? ` · 第 ${task.run_count} 次执行` : "");
    setLink(li.querySelector(".result-link"), result.link);
    setLink(li.querySelector(".report-link"), result.error_report_url);
    li.querySelector(".cancel").hidden = finished || Boolean(task.cancelled);
    // retry re-runs failed and cancelled items of a task that ended 4 or 5
    li.querySelector(".retry").hidden =
      !((task.status === 4 || task.status === 5) && counts.failed + cancelledItems > 0);
    li.querySelector(".hide").hidden = !finished;
  }

  // -- actions ------------------------------------------------------------------------
  async function act(button, work) {
    if (button) button.disabled = true;
    try {
      await work();
      clearError();
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      showError(e.message);
    } finally {
      if (button) button.disabled = false;
    }
    await refresh(true);
  }

  function cancelTask(taskId) {
    const li = tasksById.get(taskId);
    return act(li && li.querySelector(".cancel"), async () => {
      const data = await api("POST", "task/cancel", { body: { task_ids: [taskId] } });
      showNotice(data.cancelled && data.cancelled.length ? "已请求取消任务，正在停止"
                                                         : "任务已结束，无需取消");
    });
  }

  function retryTask(taskId) {
    const li = tasksById.get(taskId);
    return act(li && li.querySelector(".retry"), async () => {
      const data = await api("POST", "task/retry", { body: { task_id: taskId } });
      showNotice(`已重新提交失败和取消的项（任务 ${data.task_id}）`);
    });
  }

  function hideTasks(ids, button) {
    if (!ids.length) {
      showNotice("没有已结束的任务可隐藏");
      return Promise.resolve();
    }
    return act(button, async () => {
      await api("POST", "task/clear_show", { body: { task_ids: ids } });
      showNotice(`已隐藏 ${ids.length} 个任务`);
    });
  }

  function finishedIds() {
    return [...tasksById.entries()]
      .filter(([, li]) => FINISHED.has(Number(li.dataset.status)))
      .map(([id]) => id);
  }

  // -- forms --------------------------------------------------------------------------
  function prefillForms() {
    let prefill = {};
    try {
      prefill = JSON.parse(localStorage.getItem(PREFILL_KEY) || "{}");
    } catch (e) {
      prefill = {};
    }
    const copy = $("copy-form");
    for (const [name, value] of Object.entries(prefill)) {
      if (copy.elements[name] && !copy.elements[name].value) copy.elements[name].value = value;
    }
    const exp = $("export-form");
    const today = new Date();
    const weekAgo = new Date(today.getTime() - 6 * 86400000);
    const pad = (n) => String(n).padStart(2, "0");
    const day = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
    if (!exp.elements.start_date.value) exp.elements.start_date.value = day(weekAgo);
    if (!exp.elements.end_date.value) exp.elements.end_date.value = day(today);
  }

  function copyBody(form) {
    const f = form.elements;
    const body = {
      source_shop_id: Number(f.source_shop_id.value),
      target_shop_id: Number(f.target_shop_id.value),
    };
    const ids = f.product_ids.value.split(/[\s,，]+/).filter(Boolean);
    if (ids.length) {
      body.product_ids = ids.map(Number);
      if (body.product_ids.some((n) => !Number.isSafeInteger(n) || n <= 0)) {
        throw new ApiError("商品 ID 须为正整数，用逗号分隔");
      }
    } else {
      body.filter = {};
      if (f.category.value.trim()) body.filter.category = f.category.value.trim();
      if (f.name_contains.value.trim()) body.filter.name_contains = f.name_contains.value.trim();
    }
    return body;
  }

  async function submitCopy(event) {
    event.preventDefault();
    const form = event.target;
    await act(form.querySelector("button"), async () => {
      const data = await api("POST", "station/product/copy_task", { body: copyBody(form) });
      showNotice(data.created === false ? `任务已存在（任务 ${data.task_id}）`
                                        : `已提交商品复制任务（任务 ${data.task_id}）`);
    });
  }

  async function submitExport(event) {
    event.preventDefault();
    const form = event.target;
    const f = form.elements;
    await act(form.querySelector("button"), async () => {
      const data = await api("GET", "station/sales_analysis/orderdetail", { query: {
        query_type: 1, start_date: f.start_date.value, end_date: f.end_date.value,
        format: f.format.value } });
      if (data && data.async === 0 && safeUrl(data.link)) {
        // The file is an attachment: following its link downloads it and stays here.
        showNotice("导出完成：", data.link).click();
      } else {
        showNotice("数据较多，已转为后台导出任务，完成后可在下方任务列表下载");
      }
    });
  }

  // -- start --------------------------------------------------------------------------
  function start() {
    readFragment();
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("token").value.trim();
      if (!claims(value)) {
        showError("令牌格式不正确");
        return;
      }
      localStorage.setItem(TOKEN_KEY, value);
      $("token").value = "";
      clearError();
      showLoggedIn();
    });
    $("logout").addEventListener("click", () => logout());
    $("refresh").addEventListener("click", () => refresh(true));
    $("hide-finished").addEventListener("click",
      (event) => hideTasks(finishedIds(), event.currentTarget));
    $("copy-form").addEventListener("submit", submitCopy);
    $("export-form").addEventListener("submit", submitExport);
    window.addEventListener("hashchange", () => {   // a link opened in this very tab
      readFragment();
      showLoggedIn();
    });
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) refresh(true);
    });
    if (token() && !claims(token())) localStorage.removeItem(TOKEN_KEY);
    showLoggedIn();
  }

  start();
})();
