// What the measuring scripts of scripts/bench share: one checked request, a process's CPU time and
// percentiles.
import http from "node:http";
import fs from "node:fs";

/**
 * POSTs `body` to 127.0.0.1:`port` `path` and resolves to its timings in ms once the whole answer
 * is in, with status 200 and a text that matches `answer`; rejects otherwise, or when the whole
 * answer is not in within `timeoutMs`. `label` names the target in errors.
 */
export function call({ label, port, path, body, headers = {}, answer, agent, timeoutMs }) {
  return new Promise((resolve, reject) => {
    let deadline;
    const fail = (why) => {
      clearTimeout(deadline);
      reject(new Error(`${label}: ${why}`));
    };
    const start = process.hrtime.bigint();
    let firstByte;
    const request = http.request({
      host: "127.0.0.1",
      port,
      path,
      method: "POST",
      agent,
      headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...headers },
    }, (response) => {
      const parts = [];
      response.on("data", (part) => {
        firstByte ??= process.hrtime.bigint();
        parts.push(part);
      });
      response.on("end", () => {
        const end = process.hrtime.bigint();
        clearTimeout(deadline);
        const text = Buffer.concat(parts).toString("utf8");
        if (response.statusCode !== 200) return fail(`status ${response.statusCode}: ${text.slice(0, 500)}`);
        if (!answer.test(text)) return fail(`the answer does not match ${answer}:\n${text.slice(-500)}`);
        resolve({ totalMs: Number(end - start) / 1e6, ttfbMs: Number((firstByte ?? end) - start) / 1e6 });
      });
      response.on("error", (error) => fail(error.message));
    });
    deadline = setTimeout(() => {
      fail(`no whole answer within ${timeoutMs} ms`);
      request.destroy();
    }, timeoutMs);
    request.on("error", (error) => fail(error.message));
    request.end(body);
  });
}

/** utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/<pid>/stat). */
export function cpuTicks(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // fields[0] is field 3, `state`
  return Number(fields[11]) + Number(fields[12]);
}

export const percentile = (values, p) => {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};
