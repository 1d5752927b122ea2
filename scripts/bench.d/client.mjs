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

/**
 * The time the threads of a process have run on a CPU, in ns: the first field of each thread's
 * /proc/<pid>/task/<tid>/schedstat, summed. Where a tick is 10 ms, this resolves a nanosecond; but
 * it counts only the threads alive when it is read (a thread that ended took its time with it),
 * so `cpuClock` checks it against the ticks. Null where the kernel keeps no such count.
 */
export function cpuNs(pid) {
  let total = 0;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // The thread ended after the listing.
    }
  }
  return total > 0 ? total : null;
}

/**
 * A process's CPU clock, started now: `elapsedMs()` is the CPU time its threads have used since,
 * to the nanosecond when every thread that ran is still there to count it, else (a thread ended,
 * or the kernel keeps no per-thread count) to the clock tick.
 */
export function cpuClock(pid, ticksPerSecond) {
  const ticks = cpuTicks(pid);
  const ns = cpuNs(pid);
  return {
    /** What the last `elapsedMs` was read from: "ns" or "ticks". */
    source: null,
    elapsedMs() {
      const tickMs = ((cpuTicks(pid) - ticks) * 1000) / ticksPerSecond;
      const now = ns === null ? null : cpuNs(pid);
      const nsMs = now === null ? null : (now - ns) / 1e6;
      // The ticks are exact to within a tick at either end; the run time less than that by more
      // means a thread's time went missing.
      const precise = nsMs !== null && nsMs >= tickMs - 2000 / ticksPerSecond;
      this.source = precise ? "ns" : "ticks";
      return precise ? nsMs : tickMs;
    },
  };
}

export const percentile = (values, p) => {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};
