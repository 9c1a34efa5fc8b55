#!/usr/bin/env node
// The three resets of docs/sync-protocol.md (step 7), played with the
// example client's own Replica: after each, the device holds exactly the
// documents in its user's scope, its own work included.
//
//   1. a sync without a cursor in the session that pushed a visit;
//   2. the first sync after an admin moved the rep to another team;
//   3. a first sync (no cursor) that carries work made offline.
//
// Usage:
//   node reset-check.mjs --url URL --username REP --admin ADMIN --other-team TEAM_ID
// with the passwords in KAM_PASSWORD (the rep's) and KAM_ADMIN_PASSWORD.
// The rep must see no account yet. Prints {"cases": [...]} on stdout.
// Exit status: 0 when every case held, 1 when one did not, 2 when the run
// could not be done.

import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { Api, HttpError, Replica, rfc3339, sync, uuidv7 } from "./field-client.mjs";

const say = (text) => process.stderr.write(`${text}\n`);

function settings() {
  const { values } = parseArgs({
    options: {
      url: { type: "string" },
      username: { type: "string" },
      admin: { type: "string" },
      "other-team": { type: "string" },
    },
  });
  const config = {
    url: values.url ?? process.env.KAM_URL ?? "http://127.0.0.1:8080",
    username: values.username,
    password: process.env.KAM_PASSWORD,
    admin: values.admin,
    adminPassword: process.env.KAM_ADMIN_PASSWORD,
    otherTeam: values["other-team"],
  };
  for (const [name, value] of Object.entries(config)) {
    if (!value) throw new Error(`missing ${name}: see the usage at the top of reset-check.mjs`);
  }
  return config;
}

/** A rep's device: its own login (session) and an empty replica. */
async function device(config, deviceId) {
  const api = new Api(config.url, process.env.KAM_TRACE);
  await api.login(config.username, config.password, deviceId);
  const me = await api.get("/auth/me");
  const replica = new Replica(randomBytes(16).toString("hex"));
  const options = () => replica.changeOptions(me.id, deviceId);
  // Every field in the one initial change, empty maps, lists and Text included.
  const makeAccount = (name) => {
    const id = uuidv7();
    const fields = { name, segment: "education", stage: "identified", owner_id: me.id, shared_with: [], scores: {} };
    replica.create("account", id, { ...fields, address: {}, tags: [], notes: "", deleted: false }, options());
    return id;
  };
  const step = { done: false, notes: "" };
  const makeVisit = (accountId) => {
    const id = uuidv7();
    replica.create(
      "visit",
      id,
      {
        account_id: accountId,
        owner_id: me.id,
        key_person_ids: [],
        planned_at: rfc3339(new Date()),
        type: "phone",
        purpose: "",
        status: "planned",
        steps: { identify: step, probe: step, recommend: step, close: step, follow_up: step },
        summary: "",
        next_steps: [],
        deleted: false,
      },
      options(),
    );
    return id;
  };
  return { api, me, replica, makeAccount, makeVisit };
}

/**
 * What the device holds against its scope (`[kind, id]` pairs, each read
 * over REST to show the server has it): the case's outcome.
 */
async function outcome(name, phone, scope) {
  const held = [...phone.replica.docs.keys()].sort();
  const expected = scope.map(([, id]) => id).sort();
  for (const [kind, id] of scope) await phone.api.get(`/${kind}s/${id}`);
  const ok = JSON.stringify(held) === JSON.stringify(expected);
  say(`${ok ? "ok" : "FAILED"}: ${name}: holds ${held.length} document(s), ${expected.length} in scope`);
  return { name, ok, held, expected };
}

async function main() {
  const config = settings();
  const cases = [];

  // 1. The session pushes a visit, then syncs without a cursor.
  const phone = await device(config, `js-reset-${randomBytes(4).toString("hex")}`);
  const account = (await phone.api.post("/accounts", { name: "Suzhou Metro", segment: "education" })).id;
  await sync(phone.api, phone.replica);
  const visit = phone.makeVisit(account);
  await sync(phone.api, phone.replica);
  phone.replica.cursor = null;
  await sync(phone.api, phone.replica);
  const scope = [["account", account], ["visit", visit]];
  cases.push(await outcome("a reset in the session that pushed", phone, scope));

  // 2. An admin moves the rep to another team: the next sync is a reset.
  const admin = new Api(config.url, process.env.KAM_TRACE);
  await admin.login(config.admin, config.adminPassword, `js-reset-admin-${randomBytes(4).toString("hex")}`);
  await admin.request("PATCH", `/users/${phone.me.id}`, { team_id: config.otherTeam });
  await sync(phone.api, phone.replica);
  cases.push(await outcome("a reset after a team move", phone, scope));

  // 3. A new device makes records offline, then syncs for the first time.
  const fresh = await device(config, `js-reset-${randomBytes(4).toString("hex")}`);
  const made = fresh.makeAccount("Made offline");
  const visitToMade = fresh.makeVisit(made);
  const visitToExisting = fresh.makeVisit(account);
  await sync(fresh.api, fresh.replica);
  const offline = [["account", made], ["visit", visitToMade], ["visit", visitToExisting]];
  cases.push(await outcome("a first sync carrying offline work", fresh, [...scope, ...offline]));

  process.stdout.write(`${JSON.stringify({ cases }, null, 2)}\n`);
  return cases.every((c) => c.ok) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    say(`error: ${err instanceof HttpError ? err.message : (err?.stack ?? err)}`);
    process.exit(2);
  },
);
