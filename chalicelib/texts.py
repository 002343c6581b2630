"""Every text a user reads in an error: the one catalogue (docs/errors.md is generated from it).

A text is Chinese first, then the English in parentheses, the house style of the reasons
(`中文（English）`): the stations' users read Chinese, support and developers grep English.

- `CODES`: what each error `code` means (its HTTP status, both languages, and what the caller
  can do); the fallback `msg` of an error without a text of its own.
- named texts (`TASK_NOT_FOUND`, `TOO_MANY_PRODUCTS`, ...): what a raise site says, with
  `{params}`; `TASK_NOT_FOUND()` renders `任务不存在（task not found）`.
- `PHRASES`: the reason of each kind of validation problem (pydantic's error types, and
  `invalid()` for the models' own checks); `problems_of()` turns a ValidationError into
  every problem with its field path in the request's own notation (`order_data[3].phone`).

No internals (SQL, stack traces, class names) ever go into a text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

from pydantic import ValidationError
from pydantic_core import PydanticCustomError


def zh_en(zh: str, en: str) -> str:
    return f"{zh}（{en}）"


@dataclass(frozen=True)
class Text:
    zh: str
    en: str

    def __call__(self, **params: Any) -> str:
        return zh_en(self.zh.format(**params), self.en.format(**params))


@dataclass(frozen=True)
class CodeText:
    status: int
    zh: str
    en: str
    advice: str = ""           # docs/errors.md: what the caller can do
    gateway: bool = False      # answered by API Gateway only, never by the app

    @property
    def text(self) -> str:
        return zh_en(self.zh, self.en)


# -- error codes (the contract: their numbers never change) --------------------------------
CODES: dict[int, CodeText] = {
    40001: CodeText(400, "请求参数有误", "a parameter or body field is missing, of the wrong "
                    "type or out of range", "fix the request: `data.errors` lists every problem"
                    " with its field"),
    40002: CodeText(400, "请求体不是有效的 JSON", "the body is not valid JSON", "fix the request"),
    40010: CodeText(400, "callback_url 须为 https 地址", "callback_url is not an https URL, or "
                    "carries credentials or a #fragment", "send an https URL"),
    40011: CodeText(400, "callback_url 的主机不在允许列表中", "callback_url's host is not on the "
                    "stage's allow-list", "use an allowed host, or ask for it to be added"),
    40012: CodeText(400, "callback_url 的主机不是公网地址", "callback_url's host is, or resolves "
                    "to, a private, loopback, link-local or reserved address, or does not "
                    "resolve", "use a public host"),
    40100: CodeText(401, "未登录或登录已失效", "missing, malformed, forged or expired credential",
                    "log in again"),
    40300: CodeText(403, "没有权限执行此操作", "the credential does not allow this",
                    "use the right key"),
    40400: CodeText(404, "未找到", "no such task/shop for the caller's station, or no such "
                    "route", "check the id"),
    40500: CodeText(405, "此接口不支持该请求方法", "method not allowed on this route"),
    40900: CodeText(409, "任务当前状态不允许此操作", "the task's status forbids the operation",
                    "read the task, then decide"),
    41300: CodeText(413, "数量超过上限", "too many items", "split the request"),
    41500: CodeText(415, "请求体须为 JSON", "the body is not JSON (Content-Type other than "
                    "application/json)", "send JSON"),
    50000: CodeText(500, "服务器内部错误", "unexpected server error",
                    "retry later; report the X-Correlation-Id"),
    50300: CodeText(503, "服务暂时不可用，请稍后重试", "a dependency (the database) is "
                    "unavailable", "retry later"),
    # answered by API Gateway (infra/gateway_responses.py), and alike by the local runtime
    40000: CodeText(400, "请求被拒绝", "request refused (any other 4xx of API Gateway, with its "
                    "status)", gateway=True),
    42900: CodeText(429, "请求过于频繁，请稍后重试", "too many requests (the API's rate or "
                    "concurrency limit); retry later", "retry later", gateway=True),
    50400: CodeText(504, "请求处理超时，请稍后重试", "the request took too long; retry later",
                    "retry later", gateway=True),
}
APP_CODES = {code: c for code, c in CODES.items() if not c.gateway}


def code_text(code: int) -> str:
    entry = CODES.get(code)
    return entry.text if entry else CODES[50000 if code >= 50000 else 40000].text


# -- what raise sites say ------------------------------------------------------------------
# the request as a whole (api/http.py)
NOT_JSON = Text("请求体不是有效的 JSON", "the request body is not valid JSON")
TOO_DEEP = Text("请求嵌套超过 {depth} 层", "the request nests deeper than {depth} levels")
LONE_SURROGATE = Text("文本含有无效字符（单独的 UTF-16 代理项）",
                      "text contains an invalid character (a lone UTF-16 surrogate)")
BAD_FIELD_NAME = Text("字段名含有无效字符", "a field name contains an invalid character")
INTERNAL_ERROR = Text("服务器内部错误，请向技术支持提供响应头 X-Correlation-Id",
                      "internal error; quote the X-Correlation-Id header to support")
MORE_PROBLEMS = Text("等 {count} 个问题", "{count} problems in all")
NO_SUCH_FILE = Text("没有这个文件", "no such file")
NO_SUCH_ROUTE = Text("没有这个接口", "no such route")
SERVICE_UNAVAILABLE = Text("服务暂时不可用，请稍后重试", "the service is unavailable; retry later")
INTERNAL_RETRY = Text("服务器内部错误，请稍后重试", "internal error; retry later")
# credentials (api/auth.py)
NO_CREDENTIAL = Text("缺少登录凭证，请发送 Authorization: Bearer <token>",
                     "missing credential: send Authorization: Bearer <token>")
NOT_BEARER = Text("登录凭证格式须为 Bearer <token>", "credential must be 'Bearer <token>'")
CREDENTIAL_EXPIRED = Text("登录已过期，请重新登录", "credential expired")
CREDENTIAL_INVALID = Text("登录凭证无效，请重新登录", "invalid credential")
CREDENTIAL_TOO_LONG = Text("登录凭证的有效期超过平台允许的上限",
                           "credential lives longer than this platform accepts")
CREDENTIAL_NO_EXPIRY = Text("登录凭证没有有效期", "credential without expiry")
AUTH_KEY_INVALID = Text("auth_key 不正确", "invalid auth_key")
# tasks
STATUS_NAMES = {1: "已经提交", 2: "正在执行", 3: "已经完成", 4: "部分成功", 5: "执行失败"}   # the seed's
TASK_NOT_FOUND = Text("任务不存在", "task not found")
TASK_ID_NOT_FOUND = Text("任务 {task_id} 不存在", "task {task_id} not found")
TASKS_NOT_FOUND = Text("其中 {count} 个任务不存在", "{count} of the given tasks not found")
DUPLICATE_USER_TASK = Text("已有一个相同 user_task_id 的未完成任务",
                           "another unfinished task has this user_task_id")
ILLEGAL_TRANSITION = Text("任务状态为 {current}（{current_zh}），不能变为 {target}（{target_zh}）",
                          "task is {current_en} ({current}), cannot move to {target_en} ({target})")
TASK_CHANGED = Text("任务 {task_id} 已被其他操作修改，请刷新后重试",
                    "task {task_id} changed meanwhile; it is not {sources} any more")
FINISH_NEEDS_FINAL = Text("结束任务须给出最终状态 3、4 或 5", "finish needs a final status (3, 4 or 5)")
RETRY_NOT_ENDED = Text("只有以 4（部分成功）或 5（执行失败）结束的任务可以重试，该任务状态为 {status}",
                       "only a task that ended 4 or 5 can be retried; this one is {status}")
RETRY_NO_ITEMS = Text("该任务没有平台可以重新执行的明细",
                      "this task has no items the platform can re-run")
RETRY_NOTHING_FAILED = Text("该任务没有失败或已取消的明细可以重试",
                            "the task has no failed or cancelled items to retry")
AT_MOST = Text("最多 {limit}", "at most {limit}")
RESULT_TOO_LARGE = Text("最多 {limit} 字节的 JSON，收到 {size} 字节",
                        "at most {limit} bytes of JSON, got {size}")
RESULT_KEY_NOT_OWN = Text("须为 {prefixes} 下的对象", "must name an object under {prefixes}")
QUEUE_FAILED = Text("任务未能加入队列，请稍后重试", "the task could not be queued, try again")
# task kinds
EXACTLY_ONE = Text("{a} 与 {b} 须且只能给出其中一个", "give exactly one of {a} or {b}")
SHOPS_MUST_DIFFER = Text("不能与 source_shop_id 相同", "must differ from source_shop_id")
NEED_PRODUCT_IDS = Text("至少给出一个商品 id", "give at least one product id")
DUPLICATE_IDS = Text("有重复的 id", "duplicate ids")
TOO_MANY_PRODUCTS = Text("每个任务最多 {limit} 个商品，收到 {count} 个",
                         "at most {limit} per task, got {count}")
FILTER_TOO_BROAD = Text("筛选出的商品超过 {limit} 个", "matches more than {limit} products")
FILTER_MATCHES_NOTHING = Text("filter：源店铺没有符合条件的商品",
                              "filter: no product of the source shop matches")
SHOP_NOT_FOUND = Text("{field}：店铺 {shop_id} 不存在", "{field}: shop {shop_id} not found")
NEED_ORDERS = Text("至少给出一条订单", "give at least one order")
TOO_MANY_ORDERS = Text("每批最多 {limit} 条订单，收到 {count} 条",
                       "at most {limit} orders per batch, got {count}")
CYCLE_NOT_FOUND = Text("time_config_id：运营周期 {time_config_id} 不存在",
                       "time_config_id: operation cycle {time_config_id!r} not found")
REQUIRED_FOR_QUERY_TYPE = Text("query_type 为 {query_type}（{name_zh}）时必填",
                               "required when query_type is {query_type} ({name_en})")
END_BEFORE_START = Text("不能早于 {start}", "must not be before {start}")
RANGE_TOO_LONG = Text("时间范围不能超过 {days} 天", "the range is longer than {days} days")
# uploaded spreadsheets (service/import_file.py)
FILE_NOT_BASE64 = Text("content_base64 不是有效的 base64", "content_base64 is not valid base64")
FILE_EMPTY = Text("文件是空的", "the file is empty")
FILE_TOO_LARGE = Text("文件超过 {mb:g} MB，请拆分后分批导入", "the file is larger than {mb:g} MB")
FILE_XLS = Text("不支持旧版 .xls 文件，请在表格软件中另存为 .xlsx 或 .csv",
                ".xls files are not supported; save as .xlsx or .csv")
FILE_NOT_XLSX = Text("文件不是有效的 .xlsx 表格", "not a valid .xlsx file")
FILE_NO_WORKBOOK = Text("文件不是 .xlsx 表格（压缩包中没有工作簿）", "not an .xlsx workbook")
FILE_UNZIPS_TOO_LARGE = Text("表格解压后过大", "the workbook unzips to more than {mb} MB")
FILE_UNREADABLE = Text("表格内容无法读取", "the sheet cannot be read")
FILE_NOT_SPREADSHEET = Text("文件不是表格（.xlsx 或 .csv）", "not a spreadsheet (.xlsx or .csv)")
FILE_BAD_CSV = Text("CSV 文件格式错误", "malformed CSV: {error}")
COLUMN_TWICE = Text("列 {name} 出现了两次", "column {name} appears twice")
COLUMNS_MISSING = Text("表头缺少列：{columns}（请使用导入模板）", "missing columns: {columns}")
SHEET_TOO_MANY_ROWS = Text("表格超过 {limit} 行", "more than {limit} rows")
SHEET_TOO_MANY_ORDERS = Text("订单超过 {limit} 条，请拆分后分批导入", "more than {limit} orders")
SHEET_NO_HEADER = Text("文件中没有表头和订单行", "the file has no header and no rows")
SHEET_NO_ROWS = Text("文件中没有订单行（只有表头）", "the file has no rows below the header")
ORDERS_TOO_LARGE = Text("订单数据超过一次提交的上限（5 MB），请拆分后分批导入",
                        "the orders exceed what one submit carries (5 MB)")
# callback_url (domain/callbacks.py, service/callback_check.py); the field is the problem's
CALLBACK_TOO_LONG = Text("须为不超过 {limit} 个字符的 https 地址",
                         "must be an https URL of at most {limit} characters")
CALLBACK_NOT_URL = Text("不是有效的地址", "is not a valid URL")
CALLBACK_NOT_HTTPS = Text("须使用 https", "must use https")
CALLBACK_NOT_ASCII = Text("须为不含空格的 ASCII 字符（其他字符请先百分号编码，国际化域名用 xn-- 形式）",
                          "must be ASCII without spaces (percent-encode the rest; IDN hosts in "
                          "their xn-- form)")
CALLBACK_NO_HOST = Text("没有主机名", "has no host")
CALLBACK_CREDENTIALS = Text("不能带有用户名和密码（user:password@）",
                            "must not carry credentials (user:password@)")
CALLBACK_FRAGMENT = Text("不能带有 #片段", "must not have a #fragment")
CALLBACKS_OFF = Text("本环境未开启完成回调", "callbacks are not enabled on this stage "
                     "(CALLBACK_HOSTS is empty)")
CALLBACK_HOST_NOT_ALLOWED = Text("主机 {host} 不在本环境的允许列表中",
                                 "host {host!r} is not on this stage's allow-list (CALLBACK_HOSTS)")
CALLBACK_HOST_REFUSED = Text("主机 {host} 不是公网地址", "host {host} is {refusal}")
CALLBACK_NOT_RESOLVED = Text("主机 {host} 无法解析", "host {host!r} does not resolve")
CALLBACK_RESOLVES_PRIVATE = Text("主机 {host} 解析到的地址不是公网地址",
                                 "host {host!r} resolves to {refused}")

# -- validation problems -------------------------------------------------------------------
# pydantic error type -> reason; {…} from the error's ctx
PHRASES: dict[str, Text] = {
    "missing": Text("必填", "is required"),
    "greater_than": Text("必须大于 {gt}", "must be > {gt}"),
    "greater_than_equal": Text("不能小于 {ge}", "must be >= {ge}"),
    "less_than": Text("必须小于 {lt}", "must be < {lt}"),
    "less_than_equal": Text("不能大于 {le}", "must be <= {le}"),
    "model_type": Text("必须是一个对象", "must be an object"),
    "model_attributes_type": Text("必须是一个对象", "must be an object"),
    "dict_type": Text("必须是一个对象", "must be an object"),
    "extra_forbidden": Text("不是可用的字段", "is not a known field"),
    "string_type": Text("必须是文本", "must be a string"),
    "list_type": Text("必须是列表", "must be a list"),
    "int_type": Text("必须是整数", "must be an integer"),
    "int_parsing": Text("必须是整数", "must be an integer"),
    "int_from_float": Text("必须是整数", "must be an integer"),
    "bool_type": Text("必须是 true 或 false", "must be true or false"),
    "bool_parsing": Text("必须是 true 或 false", "must be true or false"),
    "literal_error": Text("必须是 {expected}", "must be {expected}"),
    "string_pattern_mismatch": Text("格式不正确", "does not match the pattern {pattern}"),
    "string_too_short": Text("至少 {min_length} 个字符", "must have at least {min_length} character(s)"),
    "string_too_long": Text("最多 {max_length} 个字符", "must have at most {max_length} characters"),
    "too_short": Text("至少 {min_length} 项", "must have at least {min_length} item(s)"),
    "too_long": Text("最多 {max_length} 项", "must have at most {max_length} items"),
    "decimal_type": Text("必须是数字", "must be a number"),
    "decimal_parsing": Text("必须是数字", "must be a number"),
    "finite_number": Text("必须是有限的数字", "must be a finite number"),
    "decimal_max_places": Text("最多 {decimal_places} 位小数",
                               "must have at most {decimal_places} decimal places"),
    "decimal_max_digits": Text("最多 {max_digits} 位数字", "must have at most {max_digits} digits"),
    "unknown": Text("不合法", "{msg}"),
}
# the models' own checks (chalicelib/fields.py, the request models), raised with invalid()
ONE_OF = Text("必须是 {allowed} 之一", "must be one of {allowed}")
NOT_BLANK = Text("不能为空", "must contain a non-space character")
DATE_FORMAT = Text("格式须为 YYYY-MM-DD，{min_year} 至 {max_year} 年之间的日期",
                   "must be 'YYYY-MM-DD', a date between {min_year} and {max_year}")
DATETIME_FORMAT = Text("格式须为 YYYY-MM-DD HH:MM:SS（当地时间，不带时区），{min_year} 至 {max_year} 年之间",
                       "must be 'YYYY-MM-DD HH:MM:SS', the local time without a time zone, "
                       "between {min_year} and {max_year}")
DATETIME_SHORT = Text("格式须为 YYYY-MM-DD HH:MM:SS", "must be 'YYYY-MM-DD HH:MM:SS'")
CALLBACK_SYNTAX = Text("须为由可打印 ASCII 字符组成的 https:// 地址",
                       "must be an https:// URL of printable ASCII characters")
RECEIVE_BEFORE_ORDER = Text("receive_time 早于 order_time", "receive_time is before order_time")
AMOUNT_TOO_LARGE = Text("订单总金额超出上限 {limit}", "total amount exceeds {limit}")

_PLATFORM = "platform"            # the error type of invalid()'s problems
_CJK = re.compile(r"[\u4e00-\u9fff]")


def invalid(text: Text, *, fields: Sequence[str] = (), **params: Any) -> PydanticCustomError:
    """What a validator raises for a rule of its own: the reason from the catalogue, and
    (for a model-level rule) the fields it is about, each listed as a problem."""
    return PydanticCustomError(_PLATFORM, "{reason}", {"reason": text(**params),
                                                       "fields": tuple(fields)})


@dataclass(frozen=True)
class Problem:
    field: str            # path in the request's notation: "order_data[3].lines[0].sku"; "" = the whole
    reason: str

    def __str__(self) -> str:
        return f"{self.field} {self.reason}" if self.field else self.reason

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


def field_path(loc: Iterable[Any], prefix: str = "") -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def reason_of(err: dict[str, Any]) -> str:
    ctx = err.get("ctx") or {}
    if err["type"] == _PLATFORM:
        return str(ctx["reason"])
    phrase = PHRASES.get(err["type"])
    if phrase is not None:
        try:
            return phrase(**ctx)
        except (KeyError, IndexError):
            pass
    msg = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
    if _CJK.search(msg):               # already in the users' language
        return msg
    return PHRASES["unknown"](msg=msg[:1].lower() + msg[1:])


def problems_of(err: ValidationError, prefix: str = "") -> list[Problem]:
    """Every problem pydantic found, in its order, each with its field path (under
    `prefix`, e.g. "order_data[3]")."""
    out: list[Problem] = []
    for e in err.errors(include_url=False):
        where = field_path(e.get("loc", ()), prefix)
        fields = (e.get("ctx") or {}).get("fields") if e["type"] == _PLATFORM else None
        reason = reason_of(e)
        out += ([Problem(field_path((f,), where), reason) for f in fields] if fields
                else [Problem(where, reason)])
    return out


def summary(problems: Sequence[Problem]) -> str:
    """The msg of a refused request: its first problem, and how many there are."""
    if not problems:
        return CODES[40001].text
    first = str(problems[0])
    if len(problems) == 1:
        return first
    more = MORE_PROBLEMS(count=len(problems))
    return f"{first}{more}"


def catalogue() -> dict[str, Text]:
    """Every named text (docs/errors.md lists them)."""
    return {name: value for name, value in globals().items()
            if isinstance(value, Text) and name.isupper()}


def chinese_first(text: Optional[str], code: int) -> str:
    """A msg that is not from the catalogue (Chalice's own answers, an English text a raise
    site still passes): the code's Chinese text, with the given English in parentheses."""
    if not text:
        return code_text(code)
    if _CJK.search(text):
        return text
    return zh_en(CODES[code].zh if code in CODES else code_text(code).split("（")[0], text)


# -- docs/errors.md ------------------------------------------------------------------------
DOC_BEGIN, DOC_END = "<!-- texts:{} (generated from chalicelib/texts.py) -->", "<!-- /texts:{} -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def doc_tables() -> dict[str, str]:
    """The generated parts of docs/errors.md: the codes, the named texts, the reasons."""
    codes = ["| code  | HTTP | 中文 | English | what the caller can do |",
             "|-------|------|------|---------|------------------------|",
             "| 0     | 200  | 成功 | success | |"]
    codes += [f"| {code} | {'4xx' if code == 40000 else c.status}  | {_cell(c.zh)} | "
              f"{_cell(c.en)} | {'(API Gateway) ' if c.gateway else ''}{_cell(c.advice)} |"
              for code, c in sorted(CODES.items())]
    named = ["| text | 中文 | English |", "|------|------|---------|"]
    named += [f"| `{name}` | {_cell(t.zh)} | {_cell(t.en)} |"
              for name, t in sorted(catalogue().items())]
    reasons = ["| problem (pydantic type) | 中文 | English |", "|---|---|---|"]
    reasons += [f"| `{kind}` | {_cell(t.zh)} | {_cell(t.en)} |"
                for kind, t in sorted(PHRASES.items())]
    return {"codes": "\n".join(codes), "texts": "\n".join(named), "reasons": "\n".join(reasons)}


def render_doc(doc: str) -> str:
    """`doc` with each generated part replaced by the catalogue's current one."""
    for name, table in doc_tables().items():
        begin, end = DOC_BEGIN.format(name), DOC_END.format(name)
        head, found, rest = doc.partition(begin)
        if not found:
            raise ValueError(f"docs/errors.md has no {begin}")
        _, found, tail = rest.partition(end)
        if not found:
            raise ValueError(f"docs/errors.md has no {end}")
        doc = f"{head}{begin}\n{table}\n{end}{tail}"
    return doc


if __name__ == "__main__":      # python -m chalicelib.texts docs/errors.md: regenerate it
    import sys
    from pathlib import Path
    path = Path(sys.argv[1])
    path.write_text(render_doc(path.read_text(encoding="utf-8")), encoding="utf-8")
