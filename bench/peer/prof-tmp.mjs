import * as A from "@automerge/automerge"
import { Repo } from "@automerge/automerge-repo"
import { MemoryStorageAdapter } from "./lib/memory-storage.mjs"
import { rng, accountDoc, visitDoc, applyEdit } from "./lib/workload.mjs"
const N = Number(process.argv[2] ?? 1)
const storage = process.argv[3] !== "nostorage"
const repos = Array.from({length: N}, (_, i) => new Repo({ storage: storage ? new MemoryStorageAdapter() : undefined, peerId: "d"+i, network: [] }))
const r = rng(1)
let t = performance.now(), tc = 0, te = 0, tv=0
for (const repo of repos) for (let a = 0; a < 20; a++) {
  let t1 = performance.now()
  const h = repo.create(accountDoc(r, { ownerId: "o", teamId: "t" }))
  tc += performance.now() - t1; t1 = performance.now()
  for (let v = 0; v < 2; v++) repo.create(visitDoc(r, { accountId: h.documentId, ownerId: "o", baseTime: 0 }))
  tv += performance.now() - t1; t1 = performance.now()
  for (let k = 0; k < 10; k++) applyEdit(h, k)
  te += performance.now() - t1
}
console.log(`repos=${N} storage=${storage} sync part ${(performance.now()-t).toFixed(0)}ms create ${tc.toFixed(0)} visits ${tv.toFixed(0)} edits ${te.toFixed(0)}`)
t = performance.now()
await Promise.all(repos.map(r => r.flush()))
console.log(`flush ${(performance.now()-t).toFixed(0)}ms`)
process.exit(0)
