/* Task center: the login (a station token in localStorage) and the API client.
 *
 * Shared by the page's scripts through window.TaskCenter (no build step, no library). The
 * API is reached relative to the page (…/ui/ -> …/), so a stage prefix such as /api/ works.
 * get() sends the ETag of the last answer it got for the same URL as If-None-Match and, on
 * 304 Not Modified, returns that answer again with notModified set (the page then keeps
 * what it shows). The fetch is no-store: the page validates itself, the browser's cache
 * never answers for it.
 */
"use strict";

window.TaskCenter = window.TaskCenter || {};

(() => {
  const TC = window.TaskCenter;
  const TOKEN_KEY = "taskCenter.token";
  const API_BASE = new URL("../", location.href);
  const validated = new Map();        // URL -> { etag, data } of its last 200

  // The API's msg (Chinese, the English in parentheses) and, for a refused request, every
  // problem it listed (data.errors: [{field, reason}]).
  class ApiError extends Error {
    constructor(message, problems) {
      super(message);
      this.problems = Array.isArray(problems)
        ? problems.filter((p) => p && typeof p.reason === "string") : [];
    }
  }

  function refusal(payload, status) {
    const msg = (payload && typeof payload.msg === "string" && payload.msg)
      || `请求失败（HTTP ${status}）`;
    const data = payload && payload.data;
    return new ApiError(msg, data && data.errors);
  }

  // Shows an error in `box`: its msg and, when the API listed several problems, each one
  // on its own line (field path, then the reason), as text (never HTML).
  function showErrorIn(box, error) {
    const msg = typeof error === "string" ? error : error.message;
    const problems = (error && error.problems) || [];
    box.replaceChildren(document.createTextNode(msg));
    if (problems.length > 1) {
      const list = document.createElement("ul");
      list.className = "problems";
      for (const p of problems) {
        const li = document.createElement("li");
        li.textContent = p.field ? `${p.field} ${p.reason}` : p.reason;
        list.append(li);
      }
      box.append(list);
    }
    box.hidden = false;
  }

  const session = {
    token() { return localStorage.getItem(TOKEN_KEY) || ""; },
    set(value) { localStorage.setItem(TOKEN_KEY, value); validated.clear(); },
    clear() { localStorage.removeItem(TOKEN_KEY); validated.clear(); },
    claims(jwt) {
      try {
        const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
        const bytes = Uint8Array.from(atob(part), (ch) => ch.charCodeAt(0));
        const payload = JSON.parse(new TextDecoder().decode(bytes));
        return payload && typeof payload === "object" ? payload : null;
      } catch (e) {
        return null;
      }
    },
    // set by app.js: called when the API refuses the token (401/403) with its msg
    onRefused: null,
  };

  function urlOf(path, query) {
    const url = new URL(path, API_BASE);
    for (const [k, v] of Object.entries(query || {})) {
      if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
    }
    return url;
  }

  async function send(method, url, body, extraHeaders) {
    const headers = { Authorization: "Bearer " + session.token(), ...extraHeaders };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    try {
      return await fetch(url, { method, headers, cache: "no-store",
                                body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw new ApiError("无法连接服务器，请稍后重试");
    }
  }

  async function payloadOf(resp) {
    let payload = null;
    try {
      payload = await resp.json();
    } catch (e) {
      payload = null;
    }
    if (resp.status === 401 || resp.status === 403) {   // the token is refused: log in again
      const msg = (payload && payload.msg) || "登录已失效，请重新登录";
      if (session.onRefused) session.onRefused(msg);
      throw new ApiError(msg);
    }
    if (!resp.ok || !payload || payload.code !== 0) throw refusal(payload, resp.status);
    return payload.data;
  }

  // Any call; returns `data` of the envelope, throws ApiError with the API's msg.
  async function api(method, path, { query, body } = {}) {
    return payloadOf(await send(method, urlOf(path, query), body, {}));
  }

  // A conditional GET: { data, notModified }.
  async function get(path, query) {
    const url = urlOf(path, query).toString();
    const known = validated.get(url);
    const resp = await send("GET", url, undefined,
                            known ? { "If-None-Match": known.etag } : {});
    if (resp.status === 304 && known) return { data: known.data, notModified: true };
    const data = await payloadOf(resp);
    const etag = resp.headers.get("ETag");
    if (etag) {
      if (validated.size > 50) validated.clear();     // pages, filters: a bounded memory
      validated.set(url, { etag, data });
    }
    return { data, notModified: false };
  }

  // Only http(s) links are followed (a result is data, never a script URL).
  function safeUrl(href) {
    return typeof href === "string" && /^https?:\/\//i.test(href) ? href : "";
  }

  Object.assign(TC, { ApiError, refusal, showErrorIn, session, api, get, safeUrl });
})();
