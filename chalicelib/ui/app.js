/* Task center: the caller's tasks from /task/list, polled while any is unfinished.
 *
 * Log in by pasting the station token, or open the page as …/ui/#token=…&source_shop_id=…
 * &target_shop_id=… (what `make run` prints); the token is kept in localStorage and the
 * fragment is removed from the address bar. The list is filtered (type, status), searched
 * (user_task_id prefix, name) and paged by the API's cursor (next_cursor; 上一页 goes back
 * through the cursors seen). Each poll is a conditional GET (api.js): an unchanged page is
 * a 304 and nothing is redrawn. Rows: tasks.js; the login and the API client: api.js.
 */
"use strict";

(() => {
  const TC = window.TaskCenter;
  const { session, ApiError } = TC;
  const FAST_POLL_MS = 1000;          // while any task is unfinished
  const IDLE_POLL_MS = [5000, 10000, 20000, 30000];   // backing off once all are finished
  const PAGE_SIZE = 20;
  const PREFILL_KEY = "taskCenter.prefill";

  const $ = (id) => document.getElementById(id);
  let pollTimer = null;
  let idleStep = 0;
  let loading = false;
  let again = false;                  // a refresh was asked for while one was in flight
  // what the list shows: filters, search, and the cursors of the pages before this one
  const view = { type: "", status: "", q: "", cursors: [], next: null };

  // -- session ------------------------------------------------------------------------
  // A link's #token= logs in, but never silently replaces a stored login (a crafted link
  // would move the user into another station's view): the user is asked first. The
  // fragment leaves the address bar (and the history) whatever the answer.
  function readFragment() {
    if (!location.hash.startsWith("#")) return;
    const params = new URLSearchParams(location.hash.slice(1));
    history.replaceState(null, "", location.pathname + location.search);
    const offered = (params.get("token") || "").trim();
    if (offered && offered !== session.token()) {
      const next = session.claims(offered);
      if (!next) {
        showError("链接中的令牌格式不正确，未切换登录");
        return;
      }
      const current = session.claims(session.token());
      if (current && !confirm(`此链接将把登录切换为站点 ${next.station_id || next.sub || "?"}` +
          `（当前登录：站点 ${current.station_id || current.sub || "?"}）。是否切换？`)) {
        return;           // keep the current login; ignore the link's form values too
      }
      session.set(offered);
      TC.tasks.clear();
    }
    const prefill = {};
    for (const name of ["source_shop_id", "target_shop_id", "category"]) {
      if (params.get(name)) prefill[name] = params.get(name);
    }
    if (Object.keys(prefill).length) localStorage.setItem(PREFILL_KEY, JSON.stringify(prefill));
  }

  function showLoggedIn() {
    const c = session.claims(session.token());
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
    session.clear();
    TC.tasks.clear();
    showLoggedIn();
    if (message) showError(message);
  }

  // -- messages -----------------------------------------------------------------------
  // An action's error stays until the next action succeeds; a failed poll's error goes
  // with the next poll that works.
  let errorFromPoll = false;

  // `error`: a text, or an ApiError (its msg and the problems the API listed)
  function showError(error, fromPoll = false) {
    TC.showErrorIn($("error"), error);
    errorFromPoll = fromPoll;
  }

  function clearError() { $("error").hidden = true; }

  // A notice, optionally with a download link; returns the link element.
  function showNotice(text, link) {
    const box = $("notice");
    box.replaceChildren(document.createTextNode(text));
    box.hidden = false;
    if (!TC.safeUrl(link)) return null;
    const a = document.createElement("a");
    a.href = link;
    a.textContent = "下载文件";
    a.setAttribute("download", "");
    box.append(" ", a);
    return a;
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

  function listQuery() {
    return { limit: PAGE_SIZE, type: view.type, status: view.status, q: view.q,
             cursor: view.cursors.length ? view.cursors[view.cursors.length - 1] : "" };
  }

  async function refresh(userAction) {
    if (!session.token()) return;
    if (userAction) idleStep = 0;
    if (loading) {                    // its answer may predate the action: ask again after it
      again = true;
      return;
    }
    loading = true;
    again = false;
    try {
      const { data, notModified } = await TC.get("task/list", listQuery());
      const list = $("tasks");
      list.dataset.loads = Number(list.dataset.loads || 0) + 1;      // loads so far
      if (notModified) list.dataset.notModified = Number(list.dataset.notModified || 0) + 1;
      else showPage(data);
      if (errorFromPoll) clearError();
      schedule(data.finish);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      if (session.token()) {
        showError(e, true);
        schedule(true);
      }
    } finally {
      loading = false;
    }
    if (again) await refresh(true);
  }

  function showPage(data) {
    if (!data.tasks.length && view.cursors.length) {    // the page emptied (tasks hidden)
      view.cursors.pop();
      again = true;
      return;
    }
    TC.tasks.render(data.tasks);
    view.next = data.next_cursor;
    const first = view.cursors.length * PAGE_SIZE;
    const filtered = view.type !== "" || view.status !== "" || view.q !== "";
    $("empty").hidden = data.tasks.length > 0;
    $("empty").textContent = filtered ? "没有符合条件的任务" : "暂无任务";
    $("page-info").textContent = data.total
      ? `第 ${first + 1}–${first + data.tasks.length} 个，共 ${data.total} 个任务` : "";
    $("page-prev").disabled = !view.cursors.length;
    $("page-next").disabled = data.next_cursor === null;
    $("pager").hidden = !data.total || (data.next_cursor === null && !view.cursors.length);
  }

  function goto(step) {
    if (step > 0 && view.next !== null) view.cursors.push(view.next);
    else if (step < 0) view.cursors.pop();
    refresh(true);
  }

  function applyFilters(event) {
    if (event) event.preventDefault();
    const f = $("filter-form").elements;
    view.type = f.type.value;
    view.status = f.status.value;
    view.q = f.q.value.trim();
    view.cursors = [];
    refresh(true);
  }

  // -- actions ------------------------------------------------------------------------
  async function act(button, work) {
    if (button) button.disabled = true;
    try {
      await work();
      clearError();
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      showError(e);
    } finally {
      if (button) button.disabled = false;
    }
    await refresh(true);
  }

  function buttonOf(taskId, cls) {
    const li = TC.tasks.row(taskId);
    return li && li.querySelector(cls);
  }

  TC.actions = {
    cancel(taskId) {
      return act(buttonOf(taskId, ".cancel"), async () => {
        const data = await TC.api("POST", "task/cancel", { body: { task_ids: [taskId] } });
        showNotice(data.cancelled && data.cancelled.length ? "已请求取消任务，正在停止"
                                                           : "任务已结束，无需取消");
      });
    },
    retry(taskId) {
      return act(buttonOf(taskId, ".retry"), async () => {
        const data = await TC.api("POST", "task/retry", { body: { task_id: taskId } });
        showNotice(`已重新提交失败和取消的项（任务 ${data.task_id}）`);
      });
    },
    hide(ids, button) {
      if (!ids.length) {
        showNotice("没有已结束的任务可隐藏");
        return Promise.resolve();
      }
      return act(button, async () => {
        await TC.api("POST", "task/clear_show", { body: { task_ids: ids } });
        showNotice(`已隐藏 ${ids.length} 个任务`);
      });
    },
  };

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
      const data = await TC.api("POST", "station/product/copy_task", { body: copyBody(form) });
      showNotice(data.created === false ? `任务已存在（任务 ${data.task_id}）`
                                        : `已提交商品复制任务（任务 ${data.task_id}）`);
    });
  }

  async function submitExport(event) {
    event.preventDefault();
    const form = event.target;
    const f = form.elements;
    await act(form.querySelector("button"), async () => {
      const data = await TC.api("GET", "station/sales_analysis/orderdetail", { query: {
        query_type: 1, start_date: f.start_date.value, end_date: f.end_date.value,
        format: f.format.value } });
      if (data && data.async === 0 && TC.safeUrl(data.link)) {
        // The file is an attachment: following its link downloads it and stays here.
        showNotice("导出完成：", data.link).click();
      } else {
        showNotice("数据较多，已转为后台导出任务，完成后可在下方任务列表下载");
      }
    });
  }

  // -- start --------------------------------------------------------------------------
  function start() {
    session.onRefused = (msg) => logout(msg);
    readFragment();
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("token").value.trim();
      if (!session.claims(value)) {
        showError("令牌格式不正确");
        return;
      }
      session.set(value);
      $("token").value = "";
      clearError();
      showLoggedIn();
    });
    $("logout").addEventListener("click", () => logout());
    $("refresh").addEventListener("click", () => refresh(true));
    $("hide-finished").addEventListener("click",
      (event) => TC.actions.hide(TC.tasks.finishedIds(), event.currentTarget));
    $("filter-form").addEventListener("submit", applyFilters);
    for (const name of ["type", "status"]) {
      $("filter-form").elements[name].addEventListener("change", () => applyFilters());
    }
    $("filter-clear").addEventListener("click", () => {
      $("filter-form").reset();
      applyFilters();
    });
    $("page-prev").addEventListener("click", () => goto(-1));
    $("page-next").addEventListener("click", () => goto(1));
    $("copy-form").addEventListener("submit", submitCopy);
    $("export-form").addEventListener("submit", submitExport);
    window.addEventListener("hashchange", () => {   // a link opened in this very tab
      readFragment();
      showLoggedIn();
    });
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) refresh(true);
    });
    if (session.token() && !session.claims(session.token())) session.clear();
    showLoggedIn();
  }

  start();
})();
