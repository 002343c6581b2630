/* Task center: one task's row in 我的任务 (status, progress, counts, times in the station's
 * zone, ETA, links, buttons) and its failures panel (GET task/failures, a page at a time).
 *
 * Rows are kept per task id and updated in place, so an open failures panel survives the
 * polls. The buttons call window.TaskCenter.actions (app.js).
 */
"use strict";

window.TaskCenter = window.TaskCenter || {};

(() => {
  const TC = window.TaskCenter;
  const STATUS = { 1: "已经提交", 2: "正在执行", 3: "已经完成", 4: "部分成功", 5: "执行失败" };
  const TYPES = { 0: "导入", 1: "导出", 2: "处理" };
  const FINISHED = new Set([3, 4, 5]);
  const FAILURES_PAGE = 20;
  const $ = (id) => document.getElementById(id);
  const rows = new Map();             // task_id -> <li>

  // Times come as ISO 8601 with the station's offset ("2026-12-02T14:14:42+08:00"): shown
  // as that wall clock, named by its zone, whatever the browser's own zone is.
  function shownTime(iso) {
    const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(iso || "");
    if (!m) return iso || "-";
    const zone = m[3] === "+08:00" ? "北京时间" : (m[3] === "Z" ? "UTC" : `UTC${m[3]}`);
    return `${m[1]} ${m[2]} ${zone}`;
  }

  // eta_seconds as the page says it: "约 45 秒", "约 3 分 20 秒", "约 2 小时 5 分".
  function shownEta(seconds) {
    const s = Math.max(0, Math.round(Number(seconds)));
    if (s < 60) return `约 ${s} 秒`;
    if (s < 3600) return `约 ${Math.floor(s / 60)} 分 ${s % 60} 秒`;
    return `约 ${Math.floor(s / 3600)} 小时 ${Math.floor((s % 3600) / 60)} 分`;
  }

  function setLink(a, url) {
    const href = TC.safeUrl(url);
    a.hidden = !href;
    if (href) a.href = href;
    else a.removeAttribute("href");
  }

  function newRow(taskId) {
    const li = $("task-template").content.firstElementChild.cloneNode(true);
    li.dataset.taskId = taskId;
    const on = (cls, handler) => li.querySelector(cls).addEventListener("click", handler);
    on(".cancel", () => TC.actions.cancel(taskId));
    on(".retry", () => TC.actions.retry(taskId));
    on(".hide", (event) => TC.actions.hide([taskId], event.currentTarget));
    on(".failures-toggle", () => toggleFailures(li, taskId));
    on(".failures-more", () => loadFailures(li, taskId, false));
    return li;
  }

  function update(li, task) {
    const finished = FINISHED.has(task.status);
    const counts = task.counts || { total: 0, succeeded: 0, failed: 0 };
    const result = task.result && typeof task.result === "object" ? task.result : {};
    const progress = Math.max(0, Math.min(100, Number(task.progress) || 0));
    li.dataset.status = task.status;
    li.querySelector(".name").textContent = task.business_name || task.task_name;
    li.querySelector(".type").textContent = TYPES[task.type] || "任务";
    li.querySelector(".uid").textContent = task.user_task_id ? `ID ${task.user_task_id}` : "";
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
    // An export is one item (its file): it shows the file's rows once written, its
    // progress until then, and its reason when it failed.
    const isExport = task.type === 1;
    li.querySelector(".counts").textContent = isExport
      ? (result.rows !== undefined ? `共 ${result.rows} 行` : "")
      : `共 ${counts.total} 项 · 成功 ${counts.succeeded} · 失败 ${counts.failed}` +
        (cancelledItems ? ` · 已取消 ${cancelledItems}` : "");
    li.querySelector(".time").textContent =
      `创建于 ${shownTime(task.create_time)}` +
      (task.end_time ? ` · 结束于 ${shownTime(task.end_time)}` : "") +
      (task.run_count > 1 ? ` · 第 ${task.run_count} 次执行` : "");
    const eta = li.querySelector(".eta");
    const hasEta = task.status === 2 && task.eta_seconds !== null && task.eta_seconds !== undefined;
    eta.hidden = !hasEta;
    eta.textContent = hasEta ? `预计剩余 ${shownEta(task.eta_seconds)}` : "";
    setLink(li.querySelector(".result-link"), result.link);
    setLink(li.querySelector(".report-link"), result.error_report_url);
    li.querySelector(".cancel").hidden = finished || Boolean(task.cancelled);
    // retry re-runs failed and cancelled items of a task that ended 4 or 5
    li.querySelector(".retry").hidden =
      !((task.status === 4 || task.status === 5) && counts.failed + cancelledItems > 0);
    li.querySelector(".hide").hidden = !finished;
    const listsFailures = counts.failed > 0 && !isExport;
    li.querySelector(".failures-toggle").hidden = !listsFailures;
    if (!listsFailures) li.querySelector(".failures").hidden = true;
  }

  // -- failures panel ---------------------------------------------------------------------
  function toggleFailures(li, taskId) {
    const panel = li.querySelector(".failures");
    const button = li.querySelector(".failures-toggle");
    if (!panel.hidden) {
      panel.hidden = true;
      button.textContent = "查看失败明细";
      return;
    }
    panel.hidden = false;
    button.textContent = "收起失败明细";
    loadFailures(li, taskId, true);
  }

  async function loadFailures(li, taskId, fromStart) {
    const panel = li.querySelector(".failures");
    const list = panel.querySelector(".failure-list");
    const more = panel.querySelector(".failures-more");
    const state = panel.querySelector(".failures-state");
    const cursor = fromStart ? null : panel.dataset.cursor;
    more.disabled = true;
    try {
      const data = await TC.api("GET", "task/failures", { query: {
        task_id: taskId, limit: FAILURES_PAGE, cursor } });
      if (fromStart) list.replaceChildren();
      for (const f of data.failures) {
        const item = document.createElement("li");
        item.dataset.seq = f.seq;
        const head = document.createElement("span");
        head.className = "failure-item";
        head.textContent = `#${f.seq + 1} · 项目 ${f.item_id}`;
        const why = document.createElement("span");
        why.className = "failure-reason";
        why.textContent = f.reason;
        item.append(head, why);
        list.append(item);
      }
      panel.dataset.cursor = data.next_cursor === null ? "" : data.next_cursor;
      more.hidden = data.next_cursor === null;
      state.textContent = `共 ${data.total} 项失败，已显示 ${list.children.length} 项`;
      setLink(panel.querySelector(".failures-csv"), data.error_report_url);
    } catch (e) {
      if (!(e instanceof TC.ApiError)) throw e;
      state.textContent = e.message;
    } finally {
      more.disabled = false;
    }
  }

  // -- the list ---------------------------------------------------------------------------
  function render(tasks) {
    const list = $("tasks");
    const seen = new Set();
    tasks.forEach((task, index) => {
      seen.add(task.task_id);
      let li = rows.get(task.task_id);
      if (!li) {
        li = newRow(task.task_id);
        rows.set(task.task_id, li);
      }
      update(li, task);
      if (list.children[index] !== li) list.insertBefore(li, list.children[index] || null);
    });
    for (const [id, li] of rows) {
      if (!seen.has(id)) {
        li.remove();
        rows.delete(id);
      }
    }
  }

  function clear() {
    rows.clear();
    $("tasks").replaceChildren();
  }

  function finishedIds() {
    return [...rows.entries()]
      .filter(([, li]) => FINISHED.has(Number(li.dataset.status)))
      .map(([id]) => id);
  }

  function row(taskId) { return rows.get(taskId); }

  TC.tasks = { render, clear, finishedIds, row, shownTime, shownEta, STATUS, TYPES };
})();
