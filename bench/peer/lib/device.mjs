// A simulated device: its own automerge-repo Repo with in-memory storage,
// offline until connect() adds a WebSocket client adapter to the server.
import * as A from "@automerge/automerge"
import { Repo } from "@automerge/automerge-repo"
import { MemoryStorageAdapter } from "./memory-storage.mjs"
import { CountingWebSocketClientAdapter } from "./counting-adapter.mjs"
import { rng, uuid, accountDoc, visitDoc, applyEdit } from "./workload.mjs"

export const BASE_TIME = Date.UTC(2025, 2, 3, 8, 0, 0)
/** Wall-clock ms comparable across worker threads (performance.now() is per thread). */
export const nowAbs = () => performance.timeOrigin + performance.now()
export const hexHeads = handle => A.getHeads(handle.doc())

export function teamIdsFor(seed) {
  const r = rng(seed ^ 0x5eed)
  return Array.from({ length: 8 }, () => uuid(r))
}

export class Device {
  constructor(index, { seed, serverUrl, ownerId, teamId }) {
    this.index = index
    this.peerId = `device-${index}`
    this.serverUrl = serverUrl
    this.r = rng(seed * 1000003 + index)
    this.ownerId = ownerId ?? uuid(this.r)
    this.teamId = teamId
    this.storage = new MemoryStorageAdapter()
    // No network adapter yet: the device starts offline. Default sharePolicy
    // (announce everything), as a client app would use against a sync server.
    this.repo = new Repo({ storage: this.storage, peerId: this.peerId, network: [] })
    this.adapters = []
    this.adapter = null
    this.docs = [] // { handle, kind, expected (hex heads), changes }
  }

  connect() {
    this.adapter = new CountingWebSocketClientAdapter(this.serverUrl, 1000)
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

  /** True once the server has told this device (in sync messages) that it has the doc's current heads. */
  acked(handle) {
    const sid = this.serverStorageId()
    if (!sid) return false
    const info = handle.getSyncInfo(sid)
    if (!info) return false
    const mine = handle.heads()
    const theirs = info.lastHeads
    return mine.length === theirs.length && mine.every(h => theirs.includes(h))
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

  /** Offline work: `accounts` accounts, `visitsPer` visits each, `edits` further edits per account. */
  createWorkload(accounts, visitsPer, edits) {
    for (let a = 0; a < accounts; a++) {
      const h = this.repo.create(accountDoc(this.r, { ownerId: this.ownerId, teamId: this.teamId }))
      this.docs.push({ handle: h, kind: "account" })
      for (let v = 0; v < visitsPer; v++) {
        const vh = this.repo.create(
          visitDoc(this.r, { accountId: h.documentId, ownerId: this.ownerId, baseTime: BASE_TIME }),
        )
        this.docs.push({ handle: vh, kind: "visit" })
      }
      for (let k = 0; k < edits; k++) applyEdit(h, k)
    }
  }

  /** Records each document's final heads and change count. */
  seal() {
    for (const d of this.docs) {
      d.expected = hexHeads(d.handle)
      d.changes = A.stats(d.handle.doc()).numChanges
    }
  }
}
