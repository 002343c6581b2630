// A frontend's use of the API, typed only by the client generated from /openapi.json
// (openapi-typescript -> api.d.ts, written by the test). tsc refuses it if the
// description stops typing a request or an answer; node runs it against the local stack:
// create a product copy, poll it to its end, read its counts, list it, then a refused
// request's error envelope.
//   node build/copy_and_poll.js <base url> <token> <source shop> <target shop> <ids,...>
import type { components, paths } from "./api";

declare const process: { argv: string[]; exit(code: number): never };   // (no @types/node)

type Schemas = components["schemas"];
type CopyBody = Schemas["CopyTaskRequest"];
type CopyAnswer = paths["/station/product/copy_task"]["post"]["responses"]["200"]["content"]["application/json"];
type GetAnswer = paths["/task/get"]["get"]["responses"]["200"]["content"]["application/json"];
type GetParams = paths["/task/get"]["get"]["parameters"]["query"]["params"];
type ListAnswer = paths["/task/list"]["get"]["responses"]["200"]["content"]["application/json"];
type ListParams = NonNullable<paths["/task/list"]["get"]["parameters"]["query"]>;
type CopyRefused = paths["/station/product/copy_task"]["post"]["responses"]["404"]["content"]["application/json"];
type TaskItem = Schemas["TaskItem"];

const [base, token, source, target, idList] = process.argv.slice(2);
if (!base || !token || !source || !target || !idList) throw new Error("usage: base token source target ids");
const headers = { Authorization: `Bearer ${token}`, "Content-Type": "application/json" };
const FINAL: TaskItem["status"][] = [3, 4, 5];

function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  return q.toString();
}

async function call<T>(method: string, path: string, body?: unknown): Promise<[number, T]> {
  const resp = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return [resp.status, (await resp.json()) as T];
}

async function main(): Promise<void> {
  const body: CopyBody = {
    source_shop_id: Number(source), target_shop_id: Number(target),
    product_ids: idList!.split(",").map(Number), user_task_id: `client-${Date.now()}`,
  };
  const [status, created] = await call<CopyAnswer>("POST", "/station/product/copy_task", body);
  if (status !== 200 || created.code !== 0) throw new Error(`copy refused: ${status} ${JSON.stringify(created)}`);
  const taskId: number = created.data.task_id;
  let task: TaskItem = created.data.task;
  console.log(`created task ${taskId} (${created.data.task_url}), status ${task.status}`);

  const getParams: GetParams = { task_id: taskId };
  for (let poll = 0; !FINAL.includes(task.status); poll++) {
    if (poll > 600) throw new Error(`task ${taskId} did not end: ${JSON.stringify(task)}`);
    await new Promise((r) => setTimeout(r, 100));      // a frontend's poll interval
    const [s, got] = await call<GetAnswer>("GET", `/task/get?${query(getParams)}`);
    if (s !== 200) throw new Error(`poll: ${s}`);
    task = got.data;
  }
  const counts: Schemas["Counts"] = task.counts;
  console.log(`task ${taskId} ended ${task.status} ${task.progress}% ` +
              `succeeded=${counts.succeeded} failed=${counts.failed} total=${counts.total} ` +
              `end_time=${task.end_time}`);

  const listParams: ListParams = { type: 2, limit: 10 };
  const [ls, list] = await call<ListAnswer>("GET", `/task/list?${query(listParams)}`);
  if (ls !== 200 || !list.data.tasks.some((t) => t.task_id === taskId)) throw new Error("not listed");
  console.log(`listed: ${list.data.tasks.length} task(s), finish=${list.data.finish}`);

  const [rs, refused] = await call<CopyRefused>("POST", "/station/product/copy_task",
                                                { ...body, source_shop_id: 999999999 });
  const code: 40400 | number = refused.code;
  console.log(`refused: ${rs} ${code} ${refused.msg}`);
  if (rs !== 404 || refused.data !== null) throw new Error("expected a 404 envelope");
}

main().catch((err) => { console.error(err); process.exit(1); });
