// A tour of the KAM Sync REST API through the client generated from
// openapi/openapi.json: log in, refresh the token, create accounts and page
// through them, plan a visit and check in, open a ticket and read it back.
// Every answer is checked; anything unexpected ends the run with exit code 1.
//
//   KAM_PASSWORD=... node dist/tour.js --url http://127.0.0.1:8080 --username li.wei
//
// The URL, username and device id may also come from KAM_URL, KAM_USERNAME
// and KAM_DEVICE_ID. The password is read from KAM_PASSWORD only, so that it
// never shows in a process list.

import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./api.js";

type Schemas = components["schemas"];
type TokenPair = Schemas["TokenPair"];
type AccountView = Schemas["AccountView"];

/** An answer the tour did not expect: the step, the status and the body. */
class Unexpected extends Error {
  override name = "Unexpected";
}

/** What every openapi-fetch call resolves to, success or error. */
interface Answer<T, E> {
  data?: T;
  error?: E;
  response: Response;
}

/**
 * The body of an answer with the expected status, or an `Unexpected` error
 * naming the step and showing what came instead.
 */
async function expectStatus<T, E>(
  step: string,
  status: number,
  call: Promise<Answer<T, E>>,
): Promise<T> {
  const { data, error, response } = await call;
  if (response.status !== status || data === undefined) {
    const body = error === undefined ? "" : `: ${JSON.stringify(error)}`;
    throw new Unexpected(`${step}: expected ${status}, got ${response.status}${body}`);
  }
  return data;
}

function ensure(condition: boolean, what: string): asserts condition {
  if (!condition) {
    throw new Unexpected(what);
  }
}

interface Options {
  url: string;
  username: string;
  password: string;
  deviceId: string;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      url: { type: "string" },
      username: { type: "string" },
      "device-id": { type: "string" },
    },
  });
  const url = values.url ?? process.env["KAM_URL"] ?? "http://127.0.0.1:8080";
  const username = values.username ?? process.env["KAM_USERNAME"];
  const password = process.env["KAM_PASSWORD"];
  const deviceId = values["device-id"] ?? process.env["KAM_DEVICE_ID"] ?? "ts-tour";
  if (username === undefined || password === undefined) {
    throw new Unexpected("give --username (or KAM_USERNAME) and KAM_PASSWORD");
  }
  return { url, username, password, deviceId };
}

async function tour({ url, username, password, deviceId }: Options): Promise<void> {
  const api = createClient<paths>({ baseUrl: url });
  let tokens: TokenPair = await expectStatus(
    "log in",
    200,
    api.POST("/api/v1/auth/login", {
      body: { username, password, device_id: deviceId },
    }),
  );
  console.log(`logged in as ${username} on ${deviceId} (session ${tokens.session_id})`);

  tokens = await expectStatus(
    "refresh the token",
    200,
    api.POST("/api/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } }),
  );
  console.log(`refreshed the token; the new one expires in ${tokens.expires_in} s`);
  const bearer: Middleware = {
    onRequest({ request }) {
      request.headers.set("Authorization", `Bearer ${tokens.access_token}`);
      return request;
    },
  };
  api.use(bearer);

  const me = await expectStatus("who am I", 200, api.GET("/api/v1/auth/me"));
  ensure(me.username === username, `/auth/me names ${me.username}, not ${username}`);

  // Three accounts, so that a list of two per page has a next page.
  const run = randomUUID().slice(0, 8);
  const created: AccountView[] = [];
  for (const city of ["Suzhou", "Wuxi", "Changzhou"]) {
    const account = await expectStatus(
      `create the ${city} account`,
      201,
      api.POST("/api/v1/accounts", {
        body: { name: `${city} Grid ${run}`, segment: "enterprise", tags: ["ts-tour"] },
      }),
    );
    created.push(account);
    console.log(`created account ${account.id} (${account.name})`);
  }

  const seen = new Set<string>();
  let pages = 0;
  let cursor: string | undefined;
  do {
    const page = await expectStatus(
      `list accounts, page ${pages + 1}`,
      200,
      api.GET("/api/v1/accounts", {
        params: { query: { limit: 2, ...(cursor === undefined ? {} : { cursor }) } },
      }),
    );
    pages += 1;
    ensure(page.items.length <= 2, `a page of limit 2 held ${page.items.length} accounts`);
    for (const account of page.items) {
      ensure(!seen.has(account.id), `account ${account.id} was listed twice`);
      seen.add(account.id);
    }
    cursor = page.next_cursor;
  } while (cursor !== undefined);
  const missing = created.filter((account) => !seen.has(account.id));
  ensure(missing.length === 0, `not listed: ${missing.map((a) => a.id).join(", ")}`);
  console.log(`listed ${seen.size} accounts in ${pages} pages of at most 2`);

  const [account] = created;
  ensure(account !== undefined, "no account was created");
  const visit = await expectStatus(
    "plan a visit",
    201,
    api.POST("/api/v1/visits", {
      body: {
        account_id: account.id,
        planned_at: new Date().toISOString(),
        type: "onsite",
        purpose: "Walk the substation with the operations lead",
      },
    }),
  );
  console.log(`planned visit ${visit.id} at ${account.name}`);

  const checkedIn = await expectStatus(
    "check in",
    200,
    api.POST("/api/v1/visits/{id}/check-in", {
      params: { path: { id: visit.id } },
      body: { location: { lat: 31.2989, lon: 120.5853 }, accuracy_m: 8 },
    }),
  );
  const arrival = checkedIn.check_in;
  ensure(arrival !== undefined && arrival !== null, "the visit shows no check-in");
  ensure(arrival.location.lat === 31.2989, `checked in at ${JSON.stringify(arrival.location)}`);
  console.log(`checked in to visit ${checkedIn.id} at ${arrival.at}`);

  const opened = await expectStatus(
    "open a ticket",
    201,
    api.POST("/api/v1/tickets", {
      body: {
        account_id: account.id,
        type: "service_request",
        severity: "medium",
        title: `Meter readings missing since Monday (${run})`,
      },
    }),
  );
  console.log(`opened ticket ${opened.id}, due by ${opened.sla_due_at}`);

  const ticket = await expectStatus(
    "read the ticket back",
    200,
    api.GET("/api/v1/tickets/{id}", { params: { path: { id: opened.id } } }),
  );
  ensure(ticket.id === opened.id, `asked for ticket ${opened.id}, got ${ticket.id}`);
  ensure(ticket.title === opened.title, `the ticket reads back as "${ticket.title}"`);
  ensure(ticket.account_id === account.id, `the ticket is at account ${ticket.account_id}`);
  ensure(ticket.status === "open", `a new ticket is ${ticket.status}`);
  ensure(!ticket.sla_breached, "a new ticket has breached its SLA");
  console.log(`read back ticket ${ticket.id}: ${ticket.status}, severity ${ticket.severity}`);
}

try {
  await tour(options());
  console.log("tour complete");
} catch (err: unknown) {
  console.error(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
  process.exitCode = 1;
}
