#!/usr/bin/env node
// "Field day" workload driver for the peer benchmark: simulated field-sales
// devices, each an automerge-repo Repo, work offline and then sync through the
// Automerge sync server (server.mjs) over WebSocket on 127.0.0.1.
//
// Scenarios (--scenario):
//   field-day (default)  D devices each create A accounts, A*V visits and E
//                        further edits per account offline, then all connect
//                        at once; measured until the server's storage holds
//                        every document at the device's final heads.
//                        Devices run in worker threads, --devices-per-worker
//                        each (own V8 heap and Automerge WASM instance each).
//   conflict             two devices edit the same N accounts offline (same
//                        fields, same text position), then sync; measured until
//                        both devices and the server's storage have equal heads.
//   initial              one device puts N documents on the server; then a
//                        fresh, empty device fetches them all by URL.
//                        --phase populate / --phase fetch split it in two so
//                        run.sh can restart the server in between (cold server).
//
// How "merged and durably stored" is verified: the driver reads the server's
// NodeFSStorageAdapter directory itself (--data-dir, the same directory the
// server process writes), loads each document from its snapshot/incremental
// chunk files the way the server's StorageSubsystem does, and compares the
// heads with the device's final heads. A document counts as done only once its
// on-disk heads equal the expected heads, so neither the server's memory nor
// its sync acknowledgement is taken on trust. To keep the verifier cheap (it
// shares the 2 cores with the server), server.mjs --save-log appends a
// document id to a file after each chunk write has completed; every --poll-ms
// the driver re-reads from disk only the documents named there since the last
// pass, plus a rolling slice of the other pending documents so that each is
// re-read at least once per --sweep-ms anyway (a missed hint would delay,
// never fake, a completion). Without --save-log every pass re-reads every
// pending document. A completion time is late by at
// most one poll pass (verification.pass_ms_max says how long a pass took).
// The server's sync-protocol acknowledgement (the heads the server reported in
// its sync messages, as seen by each device) is reported separately as *ack_ms.
//
// Output: ONE JSON object on stdout at the end (field names in README.md);
// progress logs go to stderr. Exit codes: 0 ok, 1 error/verification failure,
// 3 overall timeout, 64 usage.
import fs from "node:fs"
import path from "node:path"
import { parseArgs } from "node:util"
import { fileURLToPath } from "node:url"
import { Worker } from "node:worker_threads"
import * as A from "@automerge/automerge"
import { Repo } from "@automerge/automerge-repo"
import { CountingWebSocketClientAdapter } from "./lib/counting-adapter.mjs"
import { Device, nowAbs, hexHeads, teamIdsFor, BASE_TIME } from "./lib/device.mjs"
import { rng, uuid, visitDoc, applyEdit } from "./lib/workload.mjs"
import { procStats, threadCpuSeconds, resetPeakRss, dirSize, summary, sameHeads, diskHeads, diskDoc } from "./lib/metrics.mjs"

const HERE = path.dirname(fileURLToPath(import.meta.url))

// ---------------------------------------------------------------- options
const OPTS = {
  scenario: ["string", "FD_SCENARIO", "field-day"],
  devices: ["string", "FD_DEVICES", "50"],
  accounts: ["string", "FD_ACCOUNTS", "20"],
  visits: ["string", "FD_VISITS", "2"],
  edits: ["string", "FD_EDITS", "10"],
  "devices-per-worker": ["string", "FD_DEVICES_PER_WORKER", "10"],
  "conflict-accounts": ["string", "FD_CONFLICT_ACCOUNTS", "200"],
  docs: ["string", "FD_DOCS", "2000"],
  phase: ["string", "FD_PHASE", "all"],
  "state-file": ["string", "FD_STATE_FILE", ""],
  "server-url": ["string", "FD_SERVER_URL", ""],
  "server-pid": ["string", "FD_SERVER_PID", ""],
  "data-dir": ["string", "FD_DATA_DIR", ""],
  "timeout-s": ["string", "FD_TIMEOUT_S", "600"],
  "poll-ms": ["string", "FD_POLL_MS", "100"],
  "verify-sample": ["string", "FD_VERIFY_SAMPLE", "20"],
  "save-log": ["string", "FD_SAVE_LOG", ""],
  "sweep-ms": ["string", "FD_SWEEP_MS", "20000"],
  seed: ["string", "FD_SEED", "20250101"],
  help: ["boolean", null, false],
}
function usage(code, msg) {
  if (msg) console.error(`field-day: ${msg}`)
  console.error(
    "usage: node field-day.mjs --server-url ws://127.0.0.1:PORT --server-pid PID --data-dir DIR\n" +
      "         [--scenario field-day|conflict|initial] [--devices 50] [--accounts 20] [--visits 2]\n" +
      "         [--edits 10] [--devices-per-worker 10] [--conflict-accounts 200] [--docs 2000]\n" +
      "         [--phase all|populate|fetch] [--state-file F] [--timeout-s 600] [--poll-ms 100]\n" +
      "         [--verify-sample 20] [--save-log FILE] [--sweep-ms 20000] [--seed N]\n" +
      "       every flag also reads env FD_<FLAG> (upper case, - as _), e.g. FD_DEVICES=10",
  )
  process.exit(code)
}
let parsed
try {
  parsed = parseArgs({
    options: Object.fromEntries(Object.entries(OPTS).map(([k, [type]]) => [k, { type }])),
    strict: true,
  }).values
} catch (e) {
  usage(64, e.message)
}
if (parsed.help) usage(0)
const opt = {}
for (const [k, [, env, def]] of Object.entries(OPTS)) {
  opt[k] = parsed[k] ?? (env && process.env[env] !== undefined ? process.env[env] : def)
}
const posInt = (k, min = 0) => {
  const n = Number(opt[k])
  if (!Number.isInteger(n) || n < min) usage(64, `--${k} must be an integer >= ${min}`)
  return n
}
const cfg = {
  scenario: opt.scenario,
  devices: posInt("devices", 1),
  accounts: posInt("accounts", 1),
  visits: posInt("visits"),
  edits: posInt("edits"),
  devicesPerWorker: posInt("devices-per-worker", 1),
  conflictAccounts: posInt("conflict-accounts", 1),
  docs: posInt("docs", 1),
  phase: opt.phase,
  stateFile: opt["state-file"],
  serverUrl: opt["server-url"],
  serverPid: opt["server-pid"] ? posInt("server-pid", 1) : null,
  dataDir: opt["data-dir"],
  timeoutS: posInt("timeout-s", 1),
  pollMs: posInt("poll-ms", 5),
  verifySample: posInt("verify-sample"),
  saveLog: opt["save-log"],
  sweepMs: posInt("sweep-ms", 100),
  seed: posInt("seed"),
}
if (!["field-day", "conflict", "initial"].includes(cfg.scenario)) usage(64, `unknown --scenario ${cfg.scenario}`)
if (!["all", "populate", "fetch"].includes(cfg.phase)) usage(64, `unknown --phase ${cfg.phase}`)
if (cfg.phase !== "all" && cfg.scenario !== "initial") usage(64, "--phase is for --scenario initial")
if (cfg.phase !== "all" && !cfg.stateFile) usage(64, "--phase populate/fetch needs --state-file")
if (!cfg.serverUrl) usage(64, "--server-url is required (run.sh starts the server and passes it)")
{
  let u
  try {
    u = new URL(cfg.serverUrl)
  } catch {
    usage(64, `bad --server-url ${cfg.serverUrl}`)
  }
  if (!["127.0.0.1", "localhost", "[::1]"].includes(u.hostname))
    usage(64, `--server-url must be a loopback address, got ${u.hostname}`)
}
if (!cfg.dataDir) usage(64, "--data-dir (the server's storage directory) is required")

// ---------------------------------------------------------------- basics
const T_START = nowAbs()
const log = (...a) => console.error(`[field-day ${((nowAbs() - T_START) / 1000).toFixed(1)}s]`, ...a)
const sleep = ms => new Promise(r => setTimeout(r, ms))
const DEADLINE = Date.now() + cfg.timeoutS * 1000
let stage = "start"
const overall = setTimeout(() => {
  console.error(`field-day: overall timeout of ${cfg.timeoutS}s exceeded during "${stage}"; giving up`)
  process.exit(3)
}, cfg.timeoutS * 1000)
overall.unref()
process.on("unhandledRejection", e => {
  console.error("field-day: unhandled rejection:", e)
  process.exit(1)
})
process.on("uncaughtException", e => {
  console.error("field-day: uncaught exception:", e)
  process.exit(1)
})

/** Poll `check` every pollMs until it returns true; bounded in count and by the overall deadline. */
async function pollUntil(what, check, pollMs = cfg.pollMs) {
  stage = what
  const maxIters = Math.ceil((cfg.timeoutS * 1000) / pollMs) + 1
  for (let i = 0; i < maxIters; i++) {
    if (await check()) return
    if (Date.now() > DEADLINE) break
    await sleep(pollMs)
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** Run fn over items with at most `limit` in flight. */
async function pool(items, limit, fn) {
  let next = 0
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++
      await fn(items[i], i)
    }
  })
  await Promise.all(workers)
}

function versions() {
  const v = { node: process.version }
  for (const p of [
    "@automerge/automerge",
    "@automerge/automerge-repo",
    "@automerge/automerge-repo-network-websocket",
    "@automerge/automerge-repo-storage-nodefs",
    "ws",
  ]) {
    try {
      v[p] = JSON.parse(fs.readFileSync(path.join(HERE, "node_modules", p, "package.json"), "utf8")).version
    } catch {
      v[p] = null
    }
  }
  return v
}

const round = x => (x === null || x === undefined ? x : Math.round(x * 10) / 10)
const roundSummary = s => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, round(v)]))
const teamIds = teamIdsFor(cfg.seed)

// ---------------------------------------------------------------- measuring
/**
 * Waits until every doc's expected heads can be read back from the server's
 * storage directory. docs: [{ documentId, expected, durableAt }], times in
 * ms after t0 (absolute ms). `gate(d)` may hold a doc back (e.g. until the
 * devices converged), `onPass()` runs first in every pass.
 */
/** Reads the document ids that server.mjs --save-log appended since the last call. */
class SaveLogTail {
  constructor(file) {
    this.file = file
    this.offset = 0
    this.rest = ""
  }
  async read() {
    const ids = new Set()
    let fh
    try {
      fh = await fs.promises.open(this.file, "r")
    } catch (e) {
      if (e.code === "ENOENT") return ids
      throw e
    }
    try {
      const { size } = await fh.stat()
      if (size > this.offset) {
        const buf = Buffer.alloc(size - this.offset)
        const { bytesRead } = await fh.read(buf, 0, buf.length, this.offset)
        this.offset += bytesRead
        const text = this.rest + buf.subarray(0, bytesRead).toString("utf8")
        const lines = text.split("\n")
        this.rest = lines.pop()
        for (const l of lines) if (l) ids.add(l)
      }
    } finally {
      await fh.close()
    }
    return ids
  }
}
let saveLogTail = null // one per process: consecutive waits continue where the last stopped

async function waitDurable(what, docs, t0, { gate = null, onPass = null } = {}) {
  const cache = new Map()
  let pending = docs.filter(d => d.durableAt == null)
  let passes = 0
  let passMax = 0
  let hintReads = 0
  let sweepReads = 0
  let sweepCursor = 0
  let lastPass = -Infinity
  let lastLog = nowAbs()
  if (cfg.saveLog && !saveLogTail) saveLogTail = new SaveLogTail(cfg.saveLog)
  // docs named in the save log that are not yet confirmed (hints survive a
  // pass in which the doc was gated or its files were mid-write)
  const hinted = new Set()
  // main (coordinator) thread only: the verifier's own cost, device workers excluded
  const cpu0 = threadCpuSeconds(process.pid, process.pid)
  await pollUntil(what, async () => {
    const p0 = nowAbs()
    passes++
    onPass?.()
    // Without a save log every pass reads every pending doc. With one, a pass
    // reads the hinted docs plus a rolling slice of the others, sized so that
    // every pending doc is read at least once per --sweep-ms.
    let sweepSet = null
    if (saveLogTail) {
      for (const id of await saveLogTail.read()) hinted.add(id)
      const elapsed = p0 - lastPass // Infinity on the first pass: read everything once
      const n = Math.min(pending.length, Math.ceil((pending.length * elapsed) / cfg.sweepMs))
      sweepSet = new Set()
      for (let i = 0; i < n; i++) sweepSet.add(pending[(sweepCursor + i) % pending.length])
      sweepCursor = pending.length ? (sweepCursor + n) % pending.length : 0
    }
    lastPass = p0
    const still = []
    const toRead = []
    for (const d of pending) {
      if (gate && !gate(d)) still.push(d)
      else if (!sweepSet || hinted.has(d.documentId)) {
        toRead.push(d)
        hintReads++
      } else if (sweepSet.has(d)) {
        toRead.push(d)
        sweepReads++
      } else still.push(d)
    }
    await pool(toRead, 32, async d => {
      const heads = await diskHeads(cfg.dataDir, d.documentId, cache)
      if (heads && sameHeads(heads, d.expected)) d.durableAt = nowAbs() - t0
      else still.push(d)
      // a hint is used up once the files parsed; a later chunk write logs a new one
      if (heads) hinted.delete(d.documentId)
    })
    pending = still
    passMax = Math.max(passMax, nowAbs() - p0)
    if (nowAbs() - lastLog > 5000) {
      lastLog = nowAbs()
      log(`${what}: ${docs.length - pending.length}/${docs.length} durable on the server`)
    }
    return pending.length === 0
  })
  const cpu1 = threadCpuSeconds(process.pid, process.pid)
  return {
    save_log_hints: !!saveLogTail,
    poll_passes: passes,
    disk_reads: hintReads + sweepReads,
    sweep_reads: sweepReads,
    pass_ms_max: round(passMax),
    main_thread_cpu_s: cpu0 === null || cpu1 === null ? null : +(cpu1 - cpu0).toFixed(2),
  }
}

async function networkVerify(docs, n) {
  // Sanity check, not timed: a fresh peer asks the server for a sample of
  // documents by URL and compares heads. docs: [{ url, expected }]
  if (n === 0 || docs.length === 0) return { checked: 0, ok: 0 }
  const r = rng(cfg.seed + 99)
  const sample = []
  const seen = new Set()
  while (sample.length < Math.min(n, docs.length)) {
    const i = Math.floor(r() * docs.length)
    if (!seen.has(i)) {
      seen.add(i)
      sample.push(docs[i])
    }
  }
  const adapter = new CountingWebSocketClientAdapter(cfg.serverUrl, 1000)
  // default sharePolicy: with `false` a client does not even send its request
  // for a document to the server, and find() reports it unavailable
  const repo = new Repo({ network: [adapter], peerId: `verifier-${process.pid}` })
  let ok = 0
  stage = "network verification"
  try {
    await Promise.all(
      sample.map(async d => {
        const h = await repo.find(d.url)
        // the first sync round may still be in flight; wait briefly for full heads
        for (let i = 0; i < 50 && !sameHeads(hexHeads(h), d.expected); i++) await sleep(20)
        if (sameHeads(hexHeads(h), d.expected)) ok++
      }),
    )
  } catch (e) {
    log(`network verification error: ${e.message}`)
  }
  repo.networkSubsystem.disconnect()
  return { checked: sample.length, ok }
}

const serverSnapshot = () => (cfg.serverPid ? procStats(cfg.serverPid) : null)

function serverReport(before, after, resetOk) {
  if (!before || !after) return { pid: cfg.serverPid, available: false }
  return {
    pid: cfg.serverPid,
    cpu_s: +(after.cpu_s - before.cpu_s).toFixed(2),
    cpu_s_total: after.cpu_s,
    peak_rss_kb: after.vm_hwm_kb,
    peak_rss_reset_at_start: resetOk,
    rss_kb_end: after.vm_rss_kb,
  }
}

function driverReport(cpu0) {
  // process-wide: coordinator thread, device worker threads, libuv pool
  const c = process.cpuUsage(cpu0)
  const s = procStats(process.pid)
  return { cpu_s: +((c.user + c.system) / 1e6).toFixed(2), peak_rss_kb: s?.vm_hwm_kb ?? null }
}

function trafficSummaries(per) {
  const pick = k => summary(per.map(p => p[k]), { total: true })
  return {
    bytes_sent: pick("bytes_sent"),
    bytes_received: pick("bytes_received"),
    wire_bytes_sent: pick("wire_bytes_sent"),
    wire_bytes_received: pick("wire_bytes_received"),
    messages_sent: per.reduce((a, p) => a + p.messages_sent, 0),
    messages_received: per.reduce((a, p) => a + p.messages_received, 0),
  }
}

/** Reads the next message of `type` from a worker, bounded by the deadline. */
function nextMessage(worker, type) {
  return new Promise((resolve, reject) => {
    const left = DEADLINE - Date.now()
    const timer = setTimeout(() => reject(new Error(`timed out waiting for "${type}" from a device worker`)), Math.max(0, left))
    const onMsg = m => {
      if (m.type !== type) return
      cleanup()
      resolve(m)
    }
    const onErr = e => {
      cleanup()
      reject(e)
    }
    const onExit = code => {
      cleanup()
      reject(new Error(`device worker exited (${code}) before "${type}"`))
    }
    const cleanup = () => {
      clearTimeout(timer)
      worker.off("message", onMsg)
      worker.off("error", onErr)
      worker.off("exit", onExit)
    }
    worker.on("message", onMsg)
    worker.on("error", onErr)
    worker.on("exit", onExit)
  })
}

// ---------------------------------------------------------------- scenarios
async function fieldDay() {
  const D = cfg.devices
  const W = Math.ceil(D / cfg.devicesPerWorker)
  stage = "offline work"
  log(`field-day: ${D} devices x (${cfg.accounts} accounts, ${cfg.accounts * cfg.visits} visits, ${cfg.edits} edits/account), offline, in ${W} worker threads`)
  const tOff = nowAbs()
  const workers = []
  for (let w = 0; w < W; w++) {
    const indices = []
    for (let i = w * cfg.devicesPerWorker; i < Math.min(D, (w + 1) * cfg.devicesPerWorker); i++) indices.push(i)
    workers.push(
      new Worker(new URL("./lib/device-worker.mjs", import.meta.url), {
        workerData: {
          indices,
          seed: cfg.seed,
          serverUrl: cfg.serverUrl,
          accounts: cfg.accounts,
          visits: cfg.visits,
          edits: cfg.edits,
          teamIds,
          ackPollMs: cfg.pollMs,
        },
      }),
    )
  }
  const created = await Promise.all(workers.map(w => nextMessage(w, "created")))
  const offlineMs = nowAbs() - tOff
  const docs = created.flatMap(c => c.docs).map(d => ({ ...d, durableAt: null, ackAt: null }))
  const byId = new Map(docs.map(d => [d.documentId, d]))
  const changes = docs.reduce((a, d) => a + d.changes, 0)
  log(`offline work done in ${(offlineMs / 1000).toFixed(1)}s: ${docs.length} documents, ${changes} changes`)
  await sleep(300) // let the devices' throttled local saves settle

  const resetOk = cfg.serverPid ? resetPeakRss(cfg.serverPid) : false
  const s0 = serverSnapshot()
  const cpu0 = process.cpuUsage()
  stage = "connect"
  let t0 = 0 // set just before the connect messages go out
  for (const w of workers) {
    w.on("message", m => {
      if (m.type !== "acks") return
      for (const it of m.items) {
        const d = byId.get(it.documentId)
        if (d && d.ackAt === null) d.ackAt = it.at - t0
      }
    })
  }
  t0 = nowAbs()
  for (const w of workers) w.postMessage({ type: "connect" }) // all devices at once
  log(`${D} devices connecting to ${cfg.serverUrl}`)
  const verification = await waitDurable("field-day sync", docs, t0)
  const syncMs = nowAbs() - t0
  const s1 = serverSnapshot()
  const driver = driverReport(cpu0)
  log(`all ${docs.length} documents durable on the server after ${(syncMs / 1000).toFixed(2)}s`)

  const reports = await Promise.all(
    workers.map(w => {
      const p = nextMessage(w, "report")
      w.postMessage({ type: "report" })
      return p
    }),
  )
  const traffic = new Map(reports.flatMap(r => r.devices).map(t => [t.device, t]))
  const perDevice = []
  for (let i = 0; i < D; i++) {
    const ds = docs.filter(d => d.device === i)
    perDevice.push({
      device: i,
      docs: ds.length,
      changes: ds.reduce((a, d) => a + d.changes, 0),
      sync_ms: round(Math.max(...ds.map(d => d.durableAt))),
      ack_ms: ds.every(d => d.ackAt !== null) ? round(Math.max(...ds.map(d => d.ackAt))) : null,
      ...traffic.get(i),
    })
  }
  const acks = perDevice.map(p => p.ack_ms).filter(x => x !== null)
  const storage = dirSize(cfg.dataDir)
  const netCheck = await networkVerify(docs, cfg.verifySample)
  for (const w of workers) w.postMessage({ type: "stop" })

  return {
    scenario: "field-day",
    ok: netCheck.ok === netCheck.checked,
    config: {
      devices: D,
      accounts_per_device: cfg.accounts,
      visits_per_account: cfg.visits,
      edits_per_account: cfg.edits,
      device_worker_threads: W,
      poll_ms: cfg.pollMs,
      seed: cfg.seed,
    },
    versions: versions(),
    documents: docs.length,
    changes,
    offline_ms: round(offlineMs),
    sync_ms: round(syncMs),
    docs_per_s: round(docs.length / (syncMs / 1000)),
    changes_per_s: round(changes / (syncMs / 1000)),
    ack_ms: acks.length === D ? round(Math.max(...acks)) : null,
    device_sync_ms: roundSummary(summary(perDevice.map(p => p.sync_ms))),
    device_ack_ms: acks.length ? roundSummary(summary(acks)) : null,
    ...trafficSummaries(perDevice),
    server: serverReport(s0, s1, resetOk),
    driver,
    storage,
    verification: {
      method: "server storage directory read back, heads compared",
      ...verification,
      network_sample: netCheck,
    },
    per_device: perDevice,
  }
}

async function conflict() {
  const N = cfg.conflictAccounts
  const E = cfg.edits
  const teamId = teamIds[0]
  const owner = uuid(rng(cfg.seed + 1))
  const x = new Device(0, { seed: cfg.seed, serverUrl: cfg.serverUrl, ownerId: owner, teamId })
  const y = new Device(1, { seed: cfg.seed, serverUrl: cfg.serverUrl, ownerId: owner, teamId })

  // Setup (not timed): X creates the accounts and syncs them; Y fetches them.
  stage = "conflict setup"
  log(`conflict: device 0 creates ${N} accounts and syncs them`)
  x.createWorkload(N, 0, 0)
  x.seal()
  x.connect()
  const t00 = nowAbs()
  await waitDurable(
    "conflict setup upload",
    x.docs.map(d => ({ documentId: d.handle.documentId, expected: d.expected, durableAt: null })),
    t00,
  )
  y.connect()
  stage = "conflict setup: device 1 fetches"
  log(`conflict: device 1 fetches the ${N} accounts by URL`)
  const yHandles = await Promise.all(x.docs.map(d => y.repo.find(d.handle.url)))
  await pollUntil("device 1 has the base", async () =>
    yHandles.every((h, i) => sameHeads(hexHeads(h), x.docs[i].expected)),
  )
  // Both go offline.
  x.disconnect()
  y.disconnect()
  await sleep(500)

  // Offline: both edit the same fields and the same text position.
  stage = "conflict offline edits"
  const tOff = nowAbs()
  const pairs = x.docs.map((d, i) => ({ hx: d.handle, hy: yHandles[i], convergedAt: null }))
  for (const p of pairs) {
    for (let k = 0; k < E; k++) {
      applyEdit(p.hx, k, 0)
      applyEdit(p.hy, k, 1)
    }
  }
  for (const p of pairs) {
    const merged = A.merge(A.clone(p.hx.doc()), p.hy.doc())
    p.expected = A.getHeads(merged)
    A.free(merged)
  }
  await Promise.all([x.repo.flush(), y.repo.flush()])
  const offlineMs = nowAbs() - tOff
  await sleep(300)
  const traffic0 = [x.traffic(), y.traffic()]

  // Timed: both reconnect at once.
  const resetOk = cfg.serverPid ? resetPeakRss(cfg.serverPid) : false
  const s0 = serverSnapshot()
  const cpu0 = process.cpuUsage()
  const t0 = nowAbs()
  x.connect()
  y.connect()
  log(`conflict: both devices reconnect with ${E} concurrent edits each on ${N} accounts`)
  const docs = pairs.map(p => ({ documentId: p.hx.documentId, expected: p.expected, durableAt: null, pair: p }))
  const converged = p => {
    if (p.convergedAt !== null) return true
    const ok = sameHeads(hexHeads(p.hx), p.expected) && sameHeads(hexHeads(p.hy), p.expected)
    if (ok) p.convergedAt = nowAbs() - t0
    return ok
  }
  const verification = await waitDurable("conflict sync", docs, t0, { onPass: () => pairs.forEach(converged) })
  // a doc's disk heads can match before both devices do: wait for the devices too
  await pollUntil("conflict: devices converged", async () => pairs.every(converged), 10)
  const syncMs = nowAbs() - t0
  const devicesAt = Math.max(...pairs.map(p => p.convergedAt))
  const serverAt = Math.max(...docs.map(d => d.durableAt))
  const s1 = serverSnapshot()
  const driver = driverReport(cpu0)
  log(`conflict: converged and durable after ${(syncMs / 1000).toFixed(2)}s`)

  // Content check (not timed): X == Y == server disk, and count real conflicts.
  stage = "conflict content check"
  let equal = 0
  let stageConflicts = 0
  for (const p of pairs) {
    const jx = JSON.stringify(p.hx.doc())
    const dd = await diskDoc(cfg.dataDir, p.hx.documentId)
    if (jx === JSON.stringify(p.hy.doc()) && dd && jx === JSON.stringify(dd)) equal++
    if (dd) A.free(dd)
    const c = A.getConflicts(p.hx.doc(), "stage")
    if (c && Object.keys(c).length > 1) stageConflicts++
  }
  const t1 = [x.traffic(), y.traffic()]
  const perDevice = t1.map((t, i) => ({
    device: i,
    ...Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v - traffic0[i][k]])),
  }))
  const storage = dirSize(cfg.dataDir)
  x.repo.networkSubsystem.disconnect()
  y.repo.networkSubsystem.disconnect()
  return {
    scenario: "conflict",
    ok: equal === N,
    config: { accounts: N, edits_per_account_per_device: E, poll_ms: cfg.pollMs, seed: cfg.seed },
    versions: versions(),
    documents: N,
    changes: 2 * N * E,
    offline_ms: round(offlineMs),
    sync_ms: round(syncMs),
    devices_converged_ms: round(devicesAt),
    server_durable_ms: round(serverAt),
    docs_per_s: round(N / (syncMs / 1000)),
    changes_per_s: round((2 * N * E) / (syncMs / 1000)),
    converged_docs: equal,
    docs_with_stage_conflict: stageConflicts,
    sample_notes_length: pairs[0].hx.doc().notes.length,
    ...trafficSummaries(perDevice),
    per_device: perDevice,
    server: serverReport(s0, s1, resetOk),
    driver,
    storage,
    verification: {
      method: "device heads == merged heads == heads read back from server storage directory; JSON content compared",
      ...verification,
    },
  }
}

async function initialPopulate() {
  const N = cfg.docs
  const V = cfg.visits
  const accounts = Math.max(1, Math.round(N / (1 + V)))
  const visits = N - accounts
  stage = "initial populate"
  log(`initial: one device creates ${accounts} accounts + ${visits} visits (${cfg.edits} edits/account) and syncs them`)
  const dev = new Device(0, { seed: cfg.seed, serverUrl: cfg.serverUrl, teamId: teamIds[0] })
  const tOff = nowAbs()
  dev.createWorkload(accounts, 0, cfg.edits)
  // visits are spread over the accounts round-robin so the total is exactly N
  for (let v = 0; v < visits; v++) {
    const acc = dev.docs[v % accounts].handle
    const h = dev.repo.create(visitDoc(dev.r, { accountId: acc.documentId, ownerId: dev.ownerId, baseTime: BASE_TIME }))
    dev.docs.push({ handle: h, kind: "visit" })
  }
  dev.seal()
  await dev.repo.flush()
  const offlineMs = nowAbs() - tOff
  log(`initial: ${N} documents created offline in ${(offlineMs / 1000).toFixed(1)}s`)
  const t0 = nowAbs()
  dev.connect()
  const docs = dev.docs.map(d => ({ documentId: d.handle.documentId, expected: d.expected, durableAt: null }))
  await waitDurable("initial populate upload", docs, t0)
  const uploadMs = nowAbs() - t0
  log(`initial: ${N} documents durable on the server after ${(uploadMs / 1000).toFixed(2)}s`)
  const state = {
    owner_id: dev.ownerId,
    docs: dev.docs.map(d => ({ url: d.handle.url, heads: d.expected, changes: d.changes, kind: d.kind })),
    populate: {
      documents: N,
      accounts,
      visits,
      changes: dev.docs.reduce((a, d) => a + d.changes, 0),
      offline_ms: round(offlineMs),
      upload_ms: round(uploadMs),
      ...dev.traffic(),
    },
  }
  dev.repo.networkSubsystem.disconnect()
  return state
}

async function initialFetch(state, serverWarm) {
  const N = state.docs.length
  stage = "initial fetch"
  log(`initial: a fresh device fetches ${N} documents by URL from ${serverWarm ? "the same (warm)" : "a restarted (cold)"} server`)
  const dev = new Device(1, { seed: cfg.seed, serverUrl: cfg.serverUrl, ownerId: state.owner_id, teamId: teamIds[0] })
  const resetOk = cfg.serverPid ? resetPeakRss(cfg.serverPid) : false
  const s0 = serverSnapshot()
  const cpu0 = process.cpuUsage()
  const t0 = nowAbs()
  dev.connect()
  const readyAt = new Array(N).fill(null)
  const handles = new Array(N)
  let findError = null
  // the device knows the URLs (e.g. from its account list) and asks for each
  const finds = state.docs.map((d, i) =>
    dev.repo.find(d.url).then(
      h => {
        handles[i] = h
        readyAt[i] = nowAbs() - t0
      },
      e => {
        findError ??= e
      },
    ),
  )
  const fetchedAt = new Array(N).fill(null)
  let lastLog = nowAbs()
  await pollUntil("initial fetch", async () => {
    if (findError) throw new Error(`find failed: ${findError.message}`)
    let done = 0
    for (let i = 0; i < N; i++) {
      if (fetchedAt[i] !== null) {
        done++
        continue
      }
      if (handles[i] && sameHeads(hexHeads(handles[i]), state.docs[i].heads)) {
        fetchedAt[i] = nowAbs() - t0
        done++
      }
    }
    if (nowAbs() - lastLog > 5000) {
      lastLog = nowAbs()
      log(`initial fetch: ${done}/${N} documents complete on the device`)
    }
    return done === N
  })
  await Promise.all(finds)
  const fetchMs = nowAbs() - t0
  const s1 = serverSnapshot()
  const driver = driverReport(cpu0)
  const t = dev.traffic()
  log(`initial: ${N} documents fetched in ${(fetchMs / 1000).toFixed(2)}s`)
  const changes = state.docs.reduce((a, d) => a + d.changes, 0)
  dev.repo.networkSubsystem.disconnect()
  return {
    scenario: "initial",
    ok: fetchedAt.every(x => x !== null),
    config: {
      documents: N,
      edits_per_account: cfg.edits,
      visits_per_account: cfg.visits,
      server: serverWarm ? "warm" : "restarted",
      poll_ms: cfg.pollMs,
      seed: cfg.seed,
    },
    versions: versions(),
    documents: N,
    changes,
    sync_ms: round(fetchMs),
    docs_per_s: round(N / (fetchMs / 1000)),
    changes_per_s: round(changes / (fetchMs / 1000)),
    doc_ready_ms: roundSummary(summary(readyAt)),
    doc_complete_ms: roundSummary(summary(fetchedAt)),
    ...t,
    populate: state.populate,
    server: serverReport(s0, s1, resetOk),
    driver,
    storage: dirSize(cfg.dataDir),
    verification: { method: "fetched document heads == heads the creating device had" },
  }
}

// ---------------------------------------------------------------- main
async function main() {
  log(`scenario=${cfg.scenario} phase=${cfg.phase} server=${cfg.serverUrl} data_dir=${cfg.dataDir} timeout=${cfg.timeoutS}s`)
  let result
  if (cfg.scenario === "field-day") result = await fieldDay()
  else if (cfg.scenario === "conflict") result = await conflict()
  else if (cfg.phase === "populate") {
    const state = await initialPopulate()
    fs.writeFileSync(cfg.stateFile, JSON.stringify(state))
    log(`initial: state written to ${cfg.stateFile}`)
    result = { scenario: "initial", phase: "populate", ok: true, ...state.populate }
  } else if (cfg.phase === "fetch") {
    const state = JSON.parse(fs.readFileSync(cfg.stateFile, "utf8"))
    result = await initialFetch(state, false)
  } else {
    const state = await initialPopulate()
    result = await initialFetch(state, true)
  }
  result.wall_ms = round(nowAbs() - T_START)
  const out = JSON.stringify(result, null, 2) + "\n"
  process.stdout.write(out, () => process.exit(result.ok ? 0 : 1))
}

main().catch(e => {
  console.error(`field-day: failed during "${stage}": ${e?.stack ?? e}`)
  process.exit(1)
})
