// What the generated types refuse. Never run: `tsc --noEmit` checks that each
// line after a `@ts-expect-error` fails to compile (and fails itself if one
// compiles), so a change to openapi/openapi.json that loosened these types
// would fail the example's test.

import type { Client } from "openapi-fetch";
import type { components, paths } from "./api.js";

type Schemas = components["schemas"];

export async function wrongKinds(
  api: Client<paths>,
  account: Schemas["AccountView"],
  page: Schemas["Page_AccountView"],
): Promise<void> {
  const visit: Schemas["NewVisit"] = {
    account_id: account.id,
    planned_at: "2026-03-02T09:00:00Z",
    type: "onsite",
  };
  // @ts-expect-error a visit's body is not a ticket
  await api.POST("/api/v1/tickets", { body: visit });

  // @ts-expect-error a ticket's type is a complaint, a service request or a question
  await api.POST("/api/v1/tickets", { body: { account_id: account.id, type: "onsite", title: "x", severity: "low" } });

  const read = await api.GET("/api/v1/tickets/{id}", { params: { path: { id: account.id } } });
  // @ts-expect-error an error answer has no data: check first
  console.log(read.data.title);
  if (read.data !== undefined) {
    // @ts-expect-error a ticket read back is a ticket, not a visit
    console.log(read.data.check_in);
    // @ts-expect-error nor an account
    console.log(read.data.segment);
  }

  // @ts-expect-error the path needs its id
  await api.GET("/api/v1/tickets/{id}");

  // @ts-expect-error a route the document does not have
  await api.GET("/api/v1/ticket/{id}", { params: { path: { id: account.id } } });

  // @ts-expect-error limit is a number
  await api.GET("/api/v1/accounts", { params: { query: { limit: "2" } } });

  // @ts-expect-error next_cursor is absent on the last page, and an absent cursor is not `undefined`
  await api.GET("/api/v1/accounts", { params: { query: { cursor: page.next_cursor } } });

  // @ts-expect-error an item may be missing (noUncheckedIndexedAccess)
  console.log(page.items[0].name);
}
