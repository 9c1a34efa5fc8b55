#!/usr/bin/env node
// A KAM Sync field client in plain JavaScript: what a phone app does, using
// only the standard Automerge operations (init, change, save, saveSince,
// loadIncremental, getHeads, hasHeads, getMissingDeps). The protocol is
// described in docs/sync-protocol.md; this file follows it step by step.
//
// It logs in as a rep, syncs once, then goes OFFLINE: creates an account as a
// fresh Automerge document (every field in one change), edits it, adds two key
// persons (one reporting to the other) and edits one, plans and logs a visit
// to it with them. Back online it syncs (push + pull) and reads both
// records back over REST, checking that the server holds what the device
// holds, that the server undid the one change a rep may not make, and that
// the device received that correction.
//
// Usage:
//   node field-client.mjs [--url URL] [--username NAME] [--password PW] [--device-id ID]
// or the environment variables KAM_URL, KAM_USERNAME, KAM_PASSWORD,
// KAM_DEVICE_ID. KAM_TRACE=1 prints every HTTP exchange on stderr
// (KAM_TRACE=<file> appends them to that file).
//
// Prints {"account": ..., "visit": ..., "key_person": ...} (the REST views) on stdout; progress
// goes to stderr. Exit status: 0 when everything matched, 1 when something
// did not, 2 when the run could not be done (usage, network, HTTP errors).

import * as Automerge from "@automerge/automerge";
import { randomBytes } from "node:crypto";
import { appendFileSync, realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

// ---------------------------------------------------------------------------
// Document layout (sync-core's `Record` impls: TEXT_FIELDS, ATOMIC_FIELDS).

/** Per record kind: fields held as collaborative Text, and objects replaced whole. */
const LAYOUT = {
  account: { text: ["notes"], atomic: ["location", "tier_rejection"] },
  visit: { text: ["summary"], atomic: ["check_in", "check_out"] },
  contact: { text: ["notes"], atomic: [] },
  opportunity: { text: ["notes"], atomic: [] },
  account_plan: { text: ["strategies", "notes"], atomic: [] },
  callback: { text: ["comments"], atomic: [] },
  ticket: { text: ["description"], atomic: [] },
};

/** Push order (`RecordKind::ALL`): a record's account before the records under it, a callback before the ticket it closes. */
const KIND_ORDER = { account: 0, visit: 1, contact: 2, opportunity: 3, account_plan: 4, callback: 5, ticket: 6 };

/** A scalar string: every string field that is not collaborative Text. */
const scalar = (text) => new Automerge.ImmutableString(text);

/**
 * A plain JS value as the server's document layout wants it: strings are
 * scalar strings except at the kind's Text paths (which stay plain JS strings,
 * i.e. Automerge Text in @automerge/automerge 3.x); a Date becomes an RFC 3339
 * scalar string; `null`/`undefined` members are left out (absent, as the
 * server writes an unset option).
 */
function toDocValue(kind, value, path = "") {
  if (typeof value === "string") {
    return LAYOUT[kind].text.includes(path) ? value : scalar(value);
  }
  if (value instanceof Automerge.ImmutableString) return value;
  if (value instanceof Date) return scalar(rfc3339(value));
  if (Array.isArray(value)) {
    return value.map((item, i) => toDocValue(kind, item, `${path}.${i}`));
  }
  if (value !== null && typeof value === "object") {
    const out = {};
    for (const [key, member] of Object.entries(value)) {
      if (member !== null && member !== undefined) {
        out[key] = toDocValue(kind, member, path ? `${path}.${key}` : key);
      }
    }
    return out;
  }
  return value;
}

/** The document as plain JSON (ImmutableString and Text both become strings). */
const plain = (doc) => JSON.parse(JSON.stringify(doc));

/** An RFC 3339 timestamp, as the server's documents hold them. */
const rfc3339 = (date) => date.toISOString().replace(/\.\d{3}Z$/, "Z");

/** A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, version, variant, random bits. */
function uuidv7() {
  const bytes = randomBytes(16);
  let ms = Date.now();
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  bytes[6] = (bytes[6] & 0x0f) | 0x70;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const toBase64 = (bytes) => Buffer.from(bytes).toString("base64");
const fromBase64 = (text) => new Uint8Array(Buffer.from(text, "base64"));
const sameHeads = (a, b) => a.length === b.length && [...a].sort().join() === [...b].sort().join();

// ---------------------------------------------------------------------------
// The replica: a device's documents, what the server has acknowledged of
// each, the cursor, and the documents to ask for whole.

class Replica {
  constructor(actor) {
    this.actor = actor;
    /** id -> { kind, accountId, doc, serverHeads, refusedAt } */
    this.docs = new Map();
    this.cursor = null;
    this.resend = new Set();
    /** During a reset: the ids the server has delivered so far. */
    this.resetConfirmed = null;
  }

  /** The commit options of a change made on this device now. */
  changeOptions(user, device) {
    return {
      message: JSON.stringify({ user, device }),
      time: Math.floor(Date.now() / 1000),
    };
  }

  /**
   * Creates a record offline, with every field in ONE initial change, so
   * every map, list and Text exists from the start and later edits on other
   * devices merge into the same objects.
   */
  create(kind, id, fields, options) {
    if (this.docs.has(id)) throw new Error(`a document ${id} exists already`);
    const value = toDocValue(kind, fields);
    const doc = Automerge.change(Automerge.init({ actor: this.actor }), options, (d) => {
      Object.assign(d, value);
    });
    const accountId = kind === "account" ? id : fields.account_id;
    this.docs.set(id, { kind, accountId, doc, serverHeads: [], refusedAt: null });
  }

  /** Edits a record offline with a change function (see `scalar`, Automerge.updateText). */
  edit(id, options, fn) {
    const local = this.docs.get(id);
    if (!local) throw new Error(`no document ${id} on this device`);
    local.doc = Automerge.change(local.doc, options, fn);
  }

  /** The record as plain JSON, or undefined. */
  read(id) {
    const local = this.docs.get(id);
    return local && plain(local.doc);
  }

  hasUnpushed(local) {
    const heads = Automerge.getHeads(local.doc);
    return !sameHeads(heads, local.serverHeads) && !(local.refusedAt && sameHeads(local.refusedAt, heads));
  }

  pending() {
    return [...this.docs].filter(([, local]) => this.hasUnpushed(local)).map(([id]) => id);
  }

  needsSync() {
    return this.cursor === null || this.resend.size > 0 || this.pending().length > 0;
  }

  /** The request: each document's changes since the server heads it knows, in kind order. */
  prepareSync(limit) {
    const push = [...this.docs]
      .filter(([, local]) => this.hasUnpushed(local))
      .sort(([a, x], [b, y]) => KIND_ORDER[x.kind] - KIND_ORDER[y.kind] || (a < b ? -1 : 1))
      .map(([id, local]) => {
        // Only heads this device has can be saved after; none known: the whole document.
        const known = local.serverHeads.filter((hash) => Automerge.hasHeads(local.doc, [hash]));
        const bytes = known.length === 0 ? Automerge.save(local.doc) : Automerge.saveSince(local.doc, known);
        return { id, kind: local.kind, changes: toBase64(bytes) };
      });
    const request = { push, resend: [...this.resend] };
    if (this.cursor !== null) request.cursor = this.cursor;
    if (limit) request.limit = limit;
    return request;
  }

  /** Takes the server's response; returns what it did. */
  applySync(response) {
    const outcome = { received: 0, dropped: [], notices: response.notices, pushed: response.pushed };
    if (response.reset && this.resetConfirmed === null) this.resetConfirmed = new Set();
    for (const result of response.pushed) {
      const local = this.docs.get(result.id);
      if (!local) continue;
      if (result.status === "refused") {
        // Not merged: do not send it again until it is edited again.
        local.refusedAt = Automerge.getHeads(local.doc);
      } else {
        local.serverHeads = result.heads;
        local.refusedAt = null;
      }
    }
    for (const notice of response.notices) {
      const local = this.docs.get(notice.id);
      if (notice.code === "missing_dependencies" && local) {
        // The server lacks history this push built on: push the whole document next time.
        local.serverHeads = [];
        local.refusedAt = null;
      }
    }
    for (const entry of response.pull) {
      let local = this.docs.get(entry.id);
      if (!local) {
        local = { kind: entry.kind, accountId: entry.account_id, doc: Automerge.init({ actor: this.actor }), serverHeads: [], refusedAt: null };
        this.docs.set(entry.id, local);
      }
      // Whole or changes, the same operation applies it.
      local.doc = Automerge.loadIncremental(local.doc, fromBase64(entry.data));
      local.serverHeads = entry.heads;
      local.accountId = entry.account_id;
      if (Automerge.getMissingDeps(local.doc, []).length > 0) this.resend.add(entry.id);
      else this.resend.delete(entry.id);
      this.resetConfirmed?.add(entry.id);
      outcome.received += 1;
    }
    for (const removed of response.removed) outcome.dropped.push(...this.dropWithChildren(removed.id));
    if (!response.has_more && this.resetConfirmed !== null) {
      // The reset's pages delivered every document in scope, this device's
      // own pushes included; what the server never acknowledged is unsent
      // work, and stays.
      for (const [id, local] of [...this.docs]) {
        if (this.docs.has(id) && !this.resetConfirmed.has(id) && local.serverHeads.length > 0) {
          outcome.dropped.push(...this.dropWithChildren(id));
        }
      }
      this.resetConfirmed = null;
    }
    this.cursor = response.cursor;
    return outcome;
  }

  dropWithChildren(id) {
    const doomed = [...this.docs].filter(([docId, local]) => docId === id || local.accountId === id).map(([docId]) => docId);
    for (const docId of doomed) {
      this.docs.delete(docId);
      this.resend.delete(docId);
    }
    return doomed;
  }
}

// ---------------------------------------------------------------------------
// HTTP: JSON over /api/v1 with a bearer token, refreshed when it expires.

class HttpError extends Error {
  constructor(method, path, status, body) {
    super(`${method} ${path}: ${status} ${typeof body === "string" ? body : JSON.stringify(body)}`);
    this.status = status;
    this.body = body;
  }
}

class Api {
  constructor(baseUrl, trace) {
    this.base = `${baseUrl.replace(/\/+$/, "").replace(/\/api\/v1$/, "")}/api/v1`;
    this.trace = trace;
    this.online = true;
    this.tokens = null;
  }

  log(text) {
    if (this.trace === "1") process.stderr.write(`${text}\n`);
    else if (this.trace) appendFileSync(this.trace, `${text}\n`);
  }

  async request(method, path, body, { retry = true } = {}) {
    if (!this.online) throw new Error(`offline: no ${method} ${path}`);
    const headers = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (this.tokens) headers.authorization = `Bearer ${this.tokens.access_token}`;
    const text = body === undefined ? undefined : JSON.stringify(body);
    this.log(`>>> ${method} ${this.base}${path}${text ? `\n${path.startsWith("/auth/") ? redact(body) : text}` : ""}`);
    const response = await fetch(`${this.base}${path}`, {
      method,
      headers,
      body: text,
      signal: AbortSignal.timeout(30_000),
    });
    const raw = await response.text();
    this.log(`<<< ${response.status} ${response.headers.get("content-type") ?? ""}\n${path.startsWith("/auth/") ? redact(safeJson(raw)) : raw}`);
    const parsed = safeJson(raw);
    if (response.status === 401 && retry && this.tokens && parsed?.code === "invalid_token") {
      await this.refresh();
      return this.request(method, path, body, { retry: false });
    }
    if (!response.ok) throw new HttpError(method, path, response.status, parsed ?? raw);
    return parsed;
  }

  async login(username, password, deviceId) {
    this.tokens = await this.request("POST", "/auth/login", { username, password, device_id: deviceId });
  }

  /** Refresh tokens work once: keep the new pair. */
  async refresh() {
    const { refresh_token } = this.tokens;
    this.tokens = null;
    this.tokens = await this.request("POST", "/auth/refresh", { refresh_token }, { retry: false });
  }

  get(path) {
    return this.request("GET", path);
  }

  post(path, body) {
    return this.request("POST", path, body);
  }
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function redact(value) {
  if (!value || typeof value !== "object") return String(value);
  const copy = { ...value };
  for (const secret of ["password", "access_token", "refresh_token"]) {
    if (secret in copy) copy[secret] = "<redacted>";
  }
  return JSON.stringify(copy);
}

/** Syncs until nothing waits on either side; returns every notice and push result. */
async function sync(api, replica, { limit } = {}) {
  const total = { rounds: 0, received: 0, dropped: [], notices: [], pushed: [] };
  for (let round = 0; round < 100; round++) {
    const response = await api.post("/sync", replica.prepareSync(limit));
    const outcome = replica.applySync(response);
    total.rounds += 1;
    total.received += outcome.received;
    total.dropped.push(...outcome.dropped);
    total.notices.push(...outcome.notices);
    total.pushed.push(...outcome.pushed);
    if (!response.has_more && !replica.needsSync()) return total;
  }
  throw new Error("sync did not settle after 100 rounds");
}

// ---------------------------------------------------------------------------
// Checks.

class Checks {
  constructor() {
    this.failures = [];
  }

  equal(what, actual, expected) {
    const a = JSON.stringify(actual);
    const e = JSON.stringify(expected);
    if (a !== e) this.failures.push(`${what}: expected ${e}, got ${a}`);
  }

  ok(what, condition) {
    if (!condition) this.failures.push(what);
  }
}

/** What the server computes about an account (docs/insight.md), beside its record. */
const ACCOUNT_INSIGHT = [
  "health",
  "health_band",
  "warnings",
  "last_visit_at",
  "next_visit_due",
  "visit_overdue",
  "at_risk_proposed_at",
];

/** The record fields of a REST view: bookkeeping and derived members removed. */
function recordFields(view, bookkeeping) {
  const fields = { ...view };
  for (const key of ["id", "conflicts", "created_by", "created_at", "updated_at", "version", ...bookkeeping]) {
    delete fields[key];
  }
  return fields;
}

/** JSON with keys sorted and RFC 3339 timestamps as milliseconds, to compare. */
function canonical(value) {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().map((key) => [key, canonical(value[key])]));
  }
  if (typeof value === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(value)) {
    return Date.parse(value);
  }
  return value;
}

// ---------------------------------------------------------------------------

function settings() {
  const { values } = parseArgs({
    options: {
      url: { type: "string" },
      username: { type: "string" },
      password: { type: "string" },
      "device-id": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write("usage: node field-client.mjs [--url URL] [--username NAME] [--password PW] [--device-id ID]\n");
    process.exit(0);
  }
  const config = {
    url: values.url ?? process.env.KAM_URL ?? "http://127.0.0.1:8080",
    username: values.username ?? process.env.KAM_USERNAME,
    password: values.password ?? process.env.KAM_PASSWORD,
    deviceId: values["device-id"] ?? process.env.KAM_DEVICE_ID ?? `js-example-${randomBytes(4).toString("hex")}`,
    trace: process.env.KAM_TRACE,
  };
  if (!config.username || !config.password) {
    throw new UsageError("give a rep's credentials: --username/--password or KAM_USERNAME/KAM_PASSWORD");
  }
  return config;
}

class UsageError extends Error {}

const say = (text) => process.stderr.write(`${text}\n`);

async function main() {
  const config = settings();
  const api = new Api(config.url, config.trace);
  const check = new Checks();

  // 1. Log in on this device, and learn who we are.
  await api.login(config.username, config.password, config.deviceId);
  const me = await api.get("/auth/me");
  say(`logged in as ${me.username} (${me.role}) on device ${config.deviceId}`);

  // 2. First sync: everything in scope arrives whole, page by page.
  const replica = new Replica(randomBytes(16).toString("hex"));
  const first = await sync(api, replica, { limit: 50 });
  say(`first sync: ${first.received} document(s) in ${first.rounds} round(s)`);

  // 3. Offline from here: no request may reach the server.
  api.online = false;
  const options = () => replica.changeOptions(me.id, config.deviceId);
  const accountId = uuidv7();
  const name = `Ningbo Port Logistics ${accountId.slice(-6)}`;
  replica.create(
    "account",
    accountId,
    {
      name,
      segment: "enterprise",
      stage: "identified",
      owner_id: me.id,
      shared_with: [],
      scores: { need: 70 },
      industry: "logistics",
      address: { city: "Ningbo", country: "CN" },
      location: { lat: 29.8683, lon: 121.544 },
      tags: ["port"],
      notes: "Met the head of procurement.",
      deleted: false,
    },
    options(),
  );
  replica.edit(accountId, options(), (d) => {
    // Text: edited in place, so concurrent edits by others merge.
    Automerge.splice(d, ["notes"], d.notes.length, 0, " They want a pilot in Q3.");
    d.stage = scalar("engaging");
    d.tags.push(scalar("logistics"));
    d.scores.purchasing_power = 60;
    d.proposed_tier = scalar("key");
    // A rep may propose a tier but not confirm one: the server undoes this.
    d.tier = scalar("key");
  });

  // Key persons (关键人): the deputy director, and the procurement head who
  // reports to him. Options the record leaves unset are simply absent.
  const keyPerson = (id, fields) =>
    replica.create("contact", id, { account_id: accountId, org_needs: [], personal_needs: [], notes: "", deleted: false, ...fields }, options());
  const bossId = uuidv7();
  keyPerson(bossId, { name: "Zhou Ming", title: "Deputy director", buying_role: "decision_maker", attitude: "neutral", influence: 5 });
  const contactId = uuidv7();
  keyPerson(contactId, {
    name: "Chen Li",
    title: "Head of procurement",
    buying_role: "influencer",
    attitude: "neutral",
    influence: 3,
    reports_to: bossId,
    org_needs: ["price"],
    notes: "Runs the tender.",
  });
  replica.edit(contactId, options(), (d) => {
    d.attitude = scalar("supporter");
    d.influence = 4;
    d.org_needs.push(scalar("service"));
    d.personal_needs.push(scalar("esteem"));
    Automerge.splice(d, ["notes"], d.notes.length, 0, " Wants references from other ports.");
  });

  const visitId = uuidv7();
  const arrived = new Date(Date.now() - 45 * 60_000);
  const left = new Date(Date.now() - 5 * 60_000);
  const step = (done, notes) => ({ done, notes });
  replica.create(
    "visit",
    visitId,
    {
      account_id: accountId,
      owner_id: me.id,
      key_person_ids: [scalar(contactId)],
      planned_at: rfc3339(arrived),
      type: "onsite",
      purpose: "Present the pilot offer",
      status: "in_progress",
      check_in: { at: rfc3339(arrived), location: { lat: 29.8685, lon: 121.5442 }, accuracy_m: 12 },
      steps: {
        identify: step(true, "Head of procurement and the IT lead."),
        probe: step(false, ""),
        recommend: step(false, ""),
        close: step(false, ""),
        follow_up: step(false, ""),
      },
      summary: "Walked the container yard.",
      next_steps: [],
      deleted: false,
    },
    options(),
  );
  replica.edit(visitId, options(), (d) => {
    // An atomic object is replaced whole, never member by member.
    d.check_out = toDocValue("visit", { at: rfc3339(left), location: { lat: 29.8684, lon: 121.5441 } }, "check_out");
    d.status = scalar("completed");
    d.outcome = scalar("positive");
    d.steps.probe.done = true;
    d.steps.probe.notes = scalar("Yard throughput doubles by 2027.");
    Automerge.splice(d, ["summary"], d.summary.length, 0, " Agreed to a pilot on two cranes.");
    d.next_steps.push(toDocValue("visit", { text: "Send the pilot offer", owner_id: me.id, done: false }, "next_steps.0"));
    d.key_person_ids.push(scalar(bossId));
  });
  const offlineAccount = replica.read(accountId);
  const offlineVisit = replica.read(visitId);
  say(
    `offline: created account ${accountId}, key persons ${bossId} and ${contactId}, visit ${visitId}; ${replica.pending().length} document(s) to push`,
  );

  // 4. Back online: push and pull until both sides agree.
  api.online = true;
  const second = await sync(api, replica);
  for (const result of second.pushed) say(`pushed ${result.id}: ${result.status}`);
  for (const notice of second.notices) say(`notice ${notice.code} on ${notice.field ?? "-"}: ${notice.message}`);
  const statusOf = (id) => second.pushed.find((r) => r.id === id)?.status;
  check.equal("account push status", statusOf(accountId), "corrected");
  check.ok("the visit was merged", ["applied", "corrected"].includes(statusOf(visitId)));
  check.equal("key person push status", statusOf(contactId), "applied");
  check.equal("manager push status", statusOf(bossId), "applied");
  check.ok(
    "a notice says the tier was undone",
    second.notices.some((n) => n.id === accountId && n.code === "tier_confirmation_forbidden" && n.field === "tier"),
  );
  check.equal("documents still to push", replica.pending(), []);

  // 5. Read the merged records back over REST.
  const account = await api.get(`/accounts/${accountId}`);
  const visit = await api.get(`/visits/${visitId}`);
  const contact = await api.get(`/contacts/${contactId}`);
  const local = replica.read(accountId);
  const localVisit = replica.read(visitId);
  check.equal("name", account.name, name);
  check.equal("stage", account.stage, "engaging");
  check.equal("notes", account.notes, "Met the head of procurement. They want a pilot in Q3.");
  check.equal("tags", account.tags, ["port", "logistics"]);
  check.equal("scores", account.scores, { need: 70, purchasing_power: 60 });
  check.equal("proposed_tier", account.proposed_tier, "key");
  check.equal("tier (undone by the server)", account.tier, undefined);
  check.equal("owner_id", account.owner_id, me.id);
  check.equal("team_id (set by the server)", account.team_id, me.team_id ?? undefined);
  check.equal("the device's account", canonical(local), canonical(recordFields(account, ["score", "suggested_tier", ...ACCOUNT_INSIGHT])));
  check.ok("the device had the tier before syncing", offlineAccount.tier === "key");
  check.equal("visit status", visit.status, "completed");
  check.equal("visit summary", visit.summary, "Walked the container yard. Agreed to a pilot on two cranes.");
  check.equal("visit check-out", canonical(visit.check_out), canonical(offlineVisit.check_out));
  check.equal("visit probe step", visit.steps.probe, { done: true, notes: "Yard throughput doubles by 2027." });
  check.equal("the device's visit", canonical(localVisit), canonical(recordFields(visit, ["check_in_distance_m", "check_in_too_far", "effective", "visit_minutes"])));
  check.equal("visit key persons", visit.key_person_ids, [contactId, bossId]);
  check.equal("key person attitude", contact.attitude, "supporter");
  check.equal("key person influence", contact.influence, 4);
  check.equal("key person reports to", contact.reports_to, bossId);
  check.equal("key person needs", [contact.org_needs, contact.personal_needs], [["price", "service"], ["esteem"]]);
  check.equal("key person notes", contact.notes, "Runs the tender. Wants references from other ports.");
  check.equal("the device's key person", canonical(replica.read(contactId)), canonical(recordFields(contact, [])));

  process.stdout.write(`${JSON.stringify({ account, visit, key_person: contact }, null, 2)}\n`);
  if (check.failures.length > 0) {
    for (const failure of check.failures) say(`MISMATCH ${failure}`);
    return 1;
  }
  say("ok: the server and the device agree");
  return 0;
}

export { Api, HttpError, LAYOUT, Replica, plain, rfc3339, scalar, sync, toDocValue, uuidv7 };

// Run only when executed, not when imported for its Replica and Api.
const executed = process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
if (executed) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      say(`error: ${err instanceof UsageError || err instanceof HttpError ? err.message : (err?.stack ?? err)}`);
      process.exit(2);
    },
  );
}
