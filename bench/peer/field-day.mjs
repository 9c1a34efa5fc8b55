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
// its sync acknowledgement is taken on trust. Polling is every --poll-ms and
// only re-parses documents whose chunk files changed; the measured completion
// time is therefore late by at most one poll pass. The server's sync-protocol
// acknowledgement (the heads the server reported in sync messages, as seen by
// each device) is reported separately as *_ack_ms.
//
// Output: ONE JSON object on stdout at the end (field names in README.md);
// progress logs go to stderr. Exit codes: 0 ok, 1 error/verification failure,
// 3 overall timeout, 64 usage.
import fs from "node:fs"
import path from "node:path"
import { parseArgs } from "node:util"
import { fileURLToPath } from "node:url"
import * as A from "@automerge/automerge"
import { Repo } from "@automerge/automerge-repo"
import { MemoryStorageAdapter } from "./lib/memory-storage.mjs"
import { CountingWebSocketClientAdapter } from "./lib/counting-adapter.mjs"
import { rng, uuid, accountDoc, visitDoc, applyEdit } from "./lib/workload.mjs"
import {
  procStats,
  resetPeakRss,
  dirSize,
  summary,
  sameHeads,
  diskHeads,
  diskDoc,
} from "./lib/metrics.mjs"

const HERE = path.dirname(fileURLToPath(import.meta.url))

// ---------------------------------------------------------------- options
const OPTS = {
  scenario: ["string", "FD_SCENARIO", "field-day"],
  devices: ["string", "FD_DEVICES", "50"],
  accounts: ["string", "FD_ACCOUNTS", "20"],
  visits: ["string", "FD_VISITS", "2"],
  edits: ["string", "FD_EDITS", "10"],
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
  seed: ["string", "FD_SEED", "20250101"],
  help: ["boolean", null, false],
}
function usage(code, msg) {
  if (msg) console.error(`field-day: ${msg}`)
  console.error(
    "usage: node field-day.mjs --server-url ws://127.0.0.1:PORT --server-pid PID --data-dir DIR\n" +
      "         [--scenario field-day|conflict|initial] [--devices 50] [--accounts 20] [--visits 2]\n" +
      "         [--edits 10] [--conflict-accounts 200] [--docs 2000] [--phase all|populate|fetch]\n" +
      "         [--state-file F] [--timeout-s 600] [--poll-ms 100] [--verify-sample 20] [--seed N]\n" +
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
  seed: posInt("seed"),
}
if (!["field-day", "conflict", "initial"].includes(cfg.scenario)) usage(64, `unknown --scenario ${cfg.scenario}`)
if (!["all", "populate", "fetch"].includes(cfg.phase)) usage(64, `unknown --phase ${cfg.phase}`)
if (cfg.phase !== "all" && cfg.scenario !== "initial") usage(64, "--phase is for --scenario initial")
if (cfg.phase !== "all" && !cfg.stateFile) usage(64, "--phase populate/fetch needs --state-file")
if (!cfg.serverUrl) usage(64, "--server-url is required (run.sh starts the server and passes it)")
{
  const u = new URL(cfg.serverUrl)
  if (!["127.0.0.1", "localhost", "[::1]"].includes(u.hostname))
    usage(64, `--server-url must be a loopback address, got ${u.hostname}`)
}
if (!cfg.dataDir) usage(64, "--data-dir (the server's storage directory) is required")

// ---------------------------------------------------------------- basics
const T_START = performance.now()
const now = () => performance.now()
const log = (...a) => console.error(`[field-day ${((now() - T_START) / 1000).toFixed(1)}s]`, ...a)
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

/** Poll `check` every pollMs until it returns true; bounded by the overall deadline. */
async function pollUntil(what, check) {
  stage = what
  const maxIters = Math.ceil((cfg.timeoutS * 1000) / cfg.pollMs) + 1
  for (let i = 0; i < maxIters; i++) {
    if (await check()) return
    if (Date.now() > DEADLINE) break
    await sleep(cfg.pollMs)
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

const hexHeads = handle => A.getHeads(handle.doc())

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

// ---------------------------------------------------------------- devices
class Device {
  constructor(index, { seed, ownerId, teamId }) {
    this.index = index
    this.peerId = `device-${index}`
    this.r = rng(seed * 1000003 + index)
    this.ownerId = ownerId ?? uuid(this.r)
    this.teamId = teamId
    this.storage = new MemoryStorageAdapter()
    // No network adapter yet: the device starts offline. Default sharePolicy
    // (announce everything), as a client app would use against a sync server.
    this.repo = new Repo({ storage: this.storage, peerId: this.peerId, network: [] })
    this.adapters = []
    this.adapter = null
    this.docs = [] // { handle, kind, expected (hex heads), changes, durableAt, ackAt }
  }

  connect() {
    this.adapter = new CountingWebSocketClientAdapter(cfg.serverUrl, 1000)
    this.adapters.push(this.adapter)
    this.repo.networkSubsystem.addNetworkAdapter(this.adapter)
  }

  disconnect() {
    if (!this.adapter) return
    this.repo.networkSubsystem.removeNetworkAdapter(this.adapter)
    this.adapter = null
  }

  /** Server's storageId as learned from the peer handshake (for ack tracking). */
  serverStorageId() {
    for (const p of this.repo.peers) {
      const sid = this.repo.getStorageIdOfPeer(p)
      if (sid) return sid
    }
    return undefined
  }

  traffic() {
    const t = { bytes_sent: 0, bytes_received: 0, wire_bytes_sent: 0, wire_bytes_received: 0, messages_sent: 0, messages_received: 0 }
    for (const a of this.adapters) {
      t.bytes_sent += a.stats.payloadSent
      t.bytes_received += a.stats.payloadReceived
      t.messages_sent += a.stats.messagesSent
      t.messages_received += a.stats.messagesReceived
      const w = a.wire()
      t.wire_bytes_sent += w.sent
      t.wire_bytes_received += w.received
    }
    return t
  }
}

const teamIds = (() => {
  const r = rng(cfg.seed ^ 0x5eed)
  return Array.from({ length: 8 }, () => uuid(r))
})()
const BASE_TIME = Date.UTC(2025, 2, 3, 8, 0, 0)

/** Offline work of one device: A accounts, A*V visits, E edits per account. */
function createWorkload(dev, accounts, visitsPer, edits) {
  for (let a = 0; a < accounts; a++) {
    const h = dev.repo.create(accountDoc(dev.r, { ownerId: dev.ownerId, teamId: dev.teamId }))
    const acc = { handle: h, kind: "account" }
    dev.docs.push(acc)
    for (let v = 0; v < visitsPer; v++) {
      const vh = dev.repo.create(
        visitDoc(dev.r, { accountId: h.documentId, ownerId: dev.ownerId, baseTime: BASE_TIME }),
      )
      dev.docs.push({ handle: vh, kind: "visit" })
    }
    for (let k = 0; k < edits; k++) applyEdit(h, k)
  }
}

function sealExpected(dev) {
  for (const d of dev.docs) {
    d.expected = hexHeads(d.handle)
    d.changes = A.stats(d.handle.doc()).numChanges
    d.durableAt = null
    d.ackAt = null
  }
}

/**
 * Waits until every doc's heads are on the server's disk (and records the
 * server's sync acknowledgement as seen by the device on the way).
 * docs: [{ handle, expected, durableAt, ackAt, dev }]
 */
async function waitDurable(what, docs, t0, { alsoDevicesEqual = null } = {}) {
  const cache = new Map()
  let pending = docs.filter(d => d.durableAt === null)
  let passes = 0
  let lastLog = now()
  await pollUntil(what, async () => {
    passes++
    // 1) sync-protocol acknowledgement, cheap and in-process
    for (const d of docs) {
      if (d.ackAt !== null || !d.dev) continue
      const sid = d.dev.serverStorageId()
      if (!sid) continue
      const info = d.handle.getSyncInfo(sid)
      if (info && sameHeads(info.lastHeads, d.handle.heads()) && sameHeads(hexHeads(d.handle), d.expected))
        d.ackAt = now() - t0
    }
    // 2) durable: heads read back from the server's storage directory
    const still = []
    await pool(pending, 32, async d => {
      if (alsoDevicesEqual && !alsoDevicesEqual(d)) {
        still.push(d)
        return
      }
      const heads = await diskHeads(cfg.dataDir, d.handle.documentId, cache)
      if (heads && sameHeads(heads, d.expected)) d.durableAt = now() - t0
      else still.push(d)
    })
    pending = still
    if (now() - lastLog > 5000) {
      lastLog = now()
      log(`${what}: ${docs.length - pending.length}/${docs.length} durable on the server`)
    }
    return pending.length === 0
  })
  return passes
}

async function networkVerify(docs, n) {
  // Sanity check, not timed: a fresh peer asks the server for a sample of
  // documents by URL and compares heads.
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
        const h = await repo.find(d.handle.url)
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

function serverSnapshot() {
  return cfg.serverPid ? procStats(cfg.serverPid) : null
}

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
  const c = process.cpuUsage(cpu0)
  const s = procStats(process.pid)
  return { cpu_s: +((c.user + c.system) / 1e6).toFixed(2), peak_rss_kb: s?.vm_hwm_kb ?? null }
}

function trafficSummary(devs) {
  const per = devs.map(d => d.traffic())
  const pick = k => summary(per.map(p => p[k]))
  return {
    per,
    bytes_sent: pick("bytes_sent"),
    bytes_received: pick("bytes_received"),
    wire_bytes_sent: pick("wire_bytes_sent"),
    wire_bytes_received: pick("wire_bytes_received"),
    messages_sent: per.reduce((a, p) => a + p.messages_sent, 0),
    messages_received: per.reduce((a, p) => a + p.messages_received, 0),
  }
}

const round = x => (x === null || x === undefined ? x : Math.round(x * 10) / 10)
const roundSummary = s => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, round(v)]))

// ---------------------------------------------------------------- scenarios
async function fieldDay() {
  const D = cfg.devices
  stage = "offline work"
  log(`field-day: ${D} devices x (${cfg.accounts} accounts, ${cfg.accounts * cfg.visits} visits, ${cfg.edits} edits/account), offline`)
  const tOff = now()
  const devices = Array.from(
    { length: D },
    (_, i) => new Device(i, { seed: cfg.seed, teamId: teamIds[Math.floor(i / 10) % teamIds.length] }),
  )
  for (const dev of devices) createWorkload(dev, cfg.accounts, cfg.visits, cfg.edits)
  for (const dev of devices) sealExpected(dev)
  await Promise.all(devices.map(d => d.repo.flush()))
  const offlineMs = now() - tOff
  const docs = devices.flatMap(dev => dev.docs.map(d => Object.assign(d, { dev })))
  const changes = docs.reduce((a, d) => a + d.changes, 0)
  log(`offline work done in ${(offlineMs / 1000).toFixed(1)}s: ${docs.length} documents, ${changes} changes`)
  await sleep(300) // let the devices' throttled local saves settle

  const resetOk = cfg.serverPid ? resetPeakRss(cfg.serverPid) : false
  const s0 = serverSnapshot()
  const cpu0 = process.cpuUsage()
  stage = "connect"
  const t0 = now()
  for (const dev of devices) dev.connect() // all at once
  log(`${D} devices connecting to ${cfg.serverUrl}`)
  const passes = await waitDurable("field-day sync", docs, t0)
  const syncMs = now() - t0
  const s1 = serverSnapshot()
  const driver = driverReport(cpu0)
  log(`all ${docs.length} documents durable on the server after ${(syncMs / 1000).toFixed(2)}s`)

  const perDevice = devices.map(dev => {
    const ds = dev.docs
    return {
      device: dev.index,
      docs: ds.length,
      changes: ds.reduce((a, d) => a + d.changes, 0),
      sync_ms: round(Math.max(...ds.map(d => d.durableAt))),
      ack_ms: ds.every(d => d.ackAt !== null) ? round(Math.max(...ds.map(d => d.ackAt))) : null,
    }
  })
  const traffic = trafficSummary(devices)
  perDevice.forEach((p, i) => Object.assign(p, traffic.per[i]))
  const acks = perDevice.map(p => p.ack_ms).filter(x => x !== null)
  const storage = dirSize(cfg.dataDir)
  const netCheck = await networkVerify(docs, cfg.verifySample)
  for (const dev of devices) dev.repo.networkSubsystem.disconnect()

  return {
    scenario: "field-day",
    ok: netCheck.ok === netCheck.checked,
    config: { devices: D, accounts_per_device: cfg.accounts, visits_per_account: cfg.visits, edits_per_account: cfg.edits, poll_ms: cfg.pollMs, seed: cfg.seed },
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
    bytes_sent: traffic.bytes_sent,
    bytes_received: traffic.bytes_received,
    wire_bytes_sent: traffic.wire_bytes_sent,
    wire_bytes_received: traffic.wire_bytes_received,
    messages_sent: traffic.messages_sent,
    messages_received: traffic.messages_received,
    server: serverReport(s0, s1, resetOk),
    driver,
    storage,
    verification: { method: "server storage directory read back, heads compared", poll_passes: passes, network_sample: netCheck },
    per_device: perDevice,
  }
}

async function conflict() {
  const N = cfg.conflictAccounts
  const E = cfg.edits
  const teamId = teamIds[0]
  const owner = uuid(rng(cfg.seed + 1))
  const x = new Device(0, { seed: cfg.seed, ownerId: owner, teamId })
  const y = new Device(1, { seed: cfg.seed, ownerId: owner, teamId })

  // Setup (not timed): X creates the accounts and syncs them; Y fetches them.
  stage = "conflict setup"
  log(`conflict: device 0 creates ${N} accounts and syncs them`)
  createWorkload(x, N, 0, 0)
  sealExpected(x)
  x.connect()
  const xDocs = x.docs.map(d => Object.assign(d, { dev: x }))
  await waitDurable("conflict setup upload", xDocs, now())
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
  const tOff = now()
  const pairs = x.docs.map((d, i) => ({ hx: d.handle, hy: yHandles[i] }))
  for (const p of pairs) {
    for (let k = 0; k < E; k++) {
      applyEdit(p.hx, k, 0)
      applyEdit(p.hy, k, 1)
    }
  }
  for (const p of pairs) {
    p.expected = A.getHeads(A.merge(A.clone(p.hx.doc()), p.hy.doc()))
    p.changesX = A.stats(p.hx.doc()).numChanges
  }
  await Promise.all([x.repo.flush(), y.repo.flush()])
  const offlineMs = now() - tOff
  await sleep(300)
  const traffic0 = [x.traffic(), y.traffic()]

  // Timed: both reconnect at once.
  const resetOk = cfg.serverPid ? resetPeakRss(cfg.serverPid) : false
  const s0 = serverSnapshot()
  const cpu0 = process.cpuUsage()
  const t0 = now()
  x.connect()
  y.connect()
  log(`conflict: both devices reconnect with ${E} concurrent edits on each of ${N} accounts`)
  const docs = pairs.map(p => ({ handle: p.hx, expected: p.expected, durableAt: null, ackAt: null, dev: null, pair: p }))
  let devicesAt = null
  const converged = p => {
    const ok = sameHeads(hexHeads(p.hx), p.expected) && sameHeads(hexHeads(p.hy), p.expected)
    if (ok && p.convergedAt === undefined) p.convergedAt = now() - t0
    return ok
  }
  const passes = await waitDurable("conflict sync", docs, t0, { alsoDevicesEqual: d => converged(d.pair) })
  const syncMs = now() - t0
  devicesAt = Math.max(...pairs.map(p => p.convergedAt))
  const s1 = serverSnapshot()
  const driver = driverReport(cpu0)
  log(`conflict: converged and durable after ${(syncMs / 1000).toFixed(2)}s`)

  // Content check (not timed): X == Y == server disk, and count real conflicts.
  stage = "conflict content check"
  let equal = 0
  let stageConflicts = 0
  for (const p of pairs) {
    const dx = p.hx.doc()
    const dy = p.hy.doc()
    const dd = await diskDoc(cfg.dataDir, p.hx.documentId)
    const jx = JSON.stringify(dx)
    if (jx === JSON.stringify(dy) && dd && jx === JSON.stringify(dd)) equal++
    const c = A.getConflicts(dx, "stage")
    if (c && Object.keys(c).length > 1) stageConflicts++
  }
  const t1 = [x.traffic(), y.traffic()]
  const delta = t1.map((t, i) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v - traffic0[i][k]])))
  const storage = dirSize(cfg.dataDir)
  x.repo.networkSubsystem.disconnect()
  y.repo.networkSubsystem.disconnect()
  const sample = pairs[0].hx.doc()
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
    docs_per_s: round(N / (syncMs / 1000)),
    changes_per_s: round((2 * N * E) / (syncMs / 1000)),
    converged_docs: equal,
    docs_with_stage_conflict: stageConflicts,
    sample_notes_length: sample.notes.length,
    per_device: delta.map((t, i) => ({ device: i, ...t })),
    server: serverReport(s0, s1, resetOk),
    driver,
    storage,
    verification: { method: "device heads == merged heads == heads read back from server storage directory; JSON content compared", poll_passes: passes },
  }
}

async function initialPopulate() {
  const N = cfg.docs
  const V = cfg.visits
  const accounts = Math.max(1, Math.round(N / (1 + V)))
  const visits = N - accounts
  stage = "initial populate"
  log(`initial: one device creates ${accounts} accounts + ${visits} visits (${cfg.edits} edits/account) and syncs them`)
  const dev = new Device(0, { seed: cfg.seed, teamId: teamIds[0] })
  // visits are spread over the accounts round-robin so the total is exactly N
  const tOff = now()
  for (let a = 0; a < accounts; a++) {
    const h = dev.repo.create(accountDoc(dev.r, { ownerId: dev.ownerId, teamId: dev.teamId }))
    dev.docs.push({ handle: h, kind: "account" })
    for (let k = 0; k < cfg.edits; k++) applyEdit(h, k)
  }
  for (let v = 0; v < visits; v++) {
    const acc = dev.docs[v % accounts].handle
    const h = dev.repo.create(visitDoc(dev.r, { accountId: acc.documentId, ownerId: dev.ownerId, baseTime: BASE_TIME }))
    dev.docs.push({ handle: h, kind: "visit" })
  }
  sealExpected(dev)
  await dev.repo.flush()
  const offlineMs = now() - tOff
  const t0 = now()
  dev.connect()
  const docs = dev.docs.map(d => Object.assign(d, { dev }))
  await waitDurable("initial populate upload", docs, t0)
  const uploadMs = now() - t0
  log(`initial: ${N} documents durable on the server after ${(uploadMs / 1000).toFixed(2)}s`)
  const state = {
    owner_id: dev.ownerId,
    docs: docs.map(d => ({ url: d.handle.url, heads: d.expected, changes: d.changes, kind: d.kind })),
    populate: {
      documents: docs.length,
      accounts,
      visits,
      changes: docs.reduce((a, d) => a + d.changes, 0),
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
  const dev = new Device(1, { seed: cfg.seed, ownerId: state.owner_id, teamId: teamIds[0] })
  const resetOk = cfg.serverPid ? resetPeakRss(cfg.serverPid) : false
  const s0 = serverSnapshot()
  const cpu0 = process.cpuUsage()
  const t0 = now()
  dev.connect()
  const readyAt = new Array(N).fill(null)
  const handles = new Array(N)
  let findError = null
  const finds = state.docs.map((d, i) =>
    dev.repo.find(d.url).then(
      h => {
        handles[i] = h
        readyAt[i] = now() - t0
      },
      e => {
        findError ??= e
      },
    ),
  )
  const fetchedAt = new Array(N).fill(null)
  await pollUntil("initial fetch", async () => {
    if (findError) throw new Error(`find failed: ${findError.message}`)
    let done = 0
    for (let i = 0; i < N; i++) {
      if (fetchedAt[i] !== null) {
        done++
        continue
      }
      if (handles[i] && sameHeads(hexHeads(handles[i]), state.docs[i].heads)) {
        fetchedAt[i] = now() - t0
        done++
      }
    }
    return done === N
  })
  await Promise.all(finds)
  const fetchMs = now() - t0
  const s1 = serverSnapshot()
  const driver = driverReport(cpu0)
  const t = dev.traffic()
  log(`initial: ${N} documents fetched in ${(fetchMs / 1000).toFixed(2)}s`)
  const changes = state.docs.reduce((a, d) => a + d.changes, 0)
  dev.repo.networkSubsystem.disconnect()
  return {
    scenario: "initial",
    ok: fetchedAt.every(x => x !== null),
    config: { documents: N, edits_per_account: cfg.edits, visits_per_account: cfg.visits, server: serverWarm ? "warm" : "restarted", poll_ms: cfg.pollMs, seed: cfg.seed },
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
  result.wall_ms = round(now() - T_START)
  const out = JSON.stringify(result, null, 2) + "\n"
  process.stdout.write(out, () => process.exit(result.ok ? 0 : 1))
}

main().catch(e => {
  console.error(`field-day: failed during "${stage}": ${e?.stack ?? e}`)
  process.exit(1)
})
