// Worker thread hosting a group of field-day devices. Each worker is its own
// V8 isolate with its own Automerge WASM instance, so one process can host
// 50 devices without pooling all their documents in one heap (a process
// holding a few thousand Automerge documents slows down sharply, see README).
//
// Protocol with the coordinator (field-day.mjs):
//   -> {type:"created", offline_ms, docs:[{device, documentId, url, expected, changes}]}
//   <- {type:"connect"}                      connect every device at once
//   -> {type:"acks", items:[{documentId, at}]}  server acknowledgements (abs ms)
//   <- {type:"report"} -> {type:"report", devices:[{device, ...traffic}]}
//   <- {type:"stop"}                         disconnect and end the thread
import { parentPort, workerData } from "node:worker_threads"
import { Device, nowAbs } from "./device.mjs"

const { indices, seed, serverUrl, accounts, visits, edits, teamIds, ackPollMs } = workerData
const devices = indices.map(
  i => new Device(i, { seed, serverUrl, teamId: teamIds[Math.floor(i / 10) % teamIds.length] }),
)

const t0 = nowAbs()
for (const dev of devices) dev.createWorkload(accounts, visits, edits)
for (const dev of devices) dev.seal()
await Promise.all(devices.map(d => d.repo.flush()))
parentPort.postMessage({
  type: "created",
  offline_ms: nowAbs() - t0,
  docs: devices.flatMap(dev =>
    dev.docs.map(d => ({
      device: dev.index,
      documentId: d.handle.documentId,
      url: d.handle.url,
      kind: d.kind,
      expected: d.expected,
      changes: d.changes,
    })),
  ),
})

let ackTimer = null
const pendingAck = devices.flatMap(dev => dev.docs.map(d => ({ dev, d })))
let unacked = pendingAck

function checkAcks() {
  const items = []
  const still = []
  const at = nowAbs()
  for (const x of unacked) {
    if (x.dev.acked(x.d.handle)) items.push({ documentId: x.d.handle.documentId, at })
    else still.push(x)
  }
  unacked = still
  if (items.length) parentPort.postMessage({ type: "acks", items })
  if (unacked.length === 0 && ackTimer) {
    clearInterval(ackTimer)
    ackTimer = null
  }
}

parentPort.on("message", msg => {
  if (msg.type === "connect") {
    for (const dev of devices) dev.connect()
    ackTimer = setInterval(checkAcks, ackPollMs)
  } else if (msg.type === "report") {
    checkAcks()
    parentPort.postMessage({
      type: "report",
      devices: devices.map(dev => ({ device: dev.index, ...dev.traffic() })),
    })
  } else if (msg.type === "stop") {
    if (ackTimer) clearInterval(ackTimer)
    for (const dev of devices) dev.repo.networkSubsystem.disconnect()
    process.exit(0) // in a worker this ends the thread only
  }
})
