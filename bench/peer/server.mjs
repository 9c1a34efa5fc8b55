#!/usr/bin/env node
// Peer sync server for the KAM benchmark: Automerge's own sync server set up
// the way automerge/automerge-repo-sync-server (src/server.js, v0.3.0) sets it
// up: a Repo with a NodeFSStorageAdapter on a data directory, a
// NodeWSServerAdapter on a `ws` WebSocketServer, peerId "storage-server-<host>"
// and a sharePolicy that returns false (the server only syncs documents a
// peer asks for or sends it, it announces nothing).
//
// Differences from that server, none on the sync path: no express static
// site (the WebSocketServer listens by itself, on 127.0.0.1 only), and the
// data directory and port come from arguments.
//
// Usage: node server.mjs --data-dir DIR [--port N] [--save-log FILE]
//   --port 0 lets the OS pick a free port.
//   --save-log FILE (benchmark instrumentation, off by default): after each
//   document chunk (snapshot or incremental) has been written to the data
//   directory, append the document id as one line to FILE. The driver uses it
//   only as a hint of which documents to re-read from disk; it still verifies
//   heads from the files themselves. Cost: one buffered line per chunk write.
// Prints one line on stdout once listening:
//   kam-peer-server ready port=<port> pid=<pid> data_dir=<dir> peer_id=<id>
import fs from "node:fs"
import os from "node:os"
import { parseArgs } from "node:util"
import { WebSocketServer } from "ws"
import { Repo } from "@automerge/automerge-repo"
import { NodeWSServerAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"

const HOST = "127.0.0.1" // the bench makes traffic to loopback only

const { values } = parseArgs({
  options: {
    "data-dir": { type: "string", default: process.env.DATA_DIR },
    port: { type: "string", default: process.env.PORT ?? "0" },
    "save-log": { type: "string" },
  },
})
const dir = values["data-dir"]
if (!dir) {
  console.error("server.mjs: --data-dir DIR is required")
  process.exit(64)
}
if (!fs.existsSync(dir)) fs.mkdirSync(dir, { recursive: true })
const port = Number.parseInt(values.port, 10)
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`server.mjs: bad --port ${values.port}`)
  process.exit(64)
}

/** Delegates to NodeFSStorageAdapter; logs the document id once a chunk write has completed. */
class SaveLoggingStorageAdapter {
  constructor(inner, stream) {
    this.inner = inner
    this.stream = stream
  }
  load(key) {
    return this.inner.load(key)
  }
  async save(key, data) {
    await this.inner.save(key, data)
    if (key[1] === "snapshot" || key[1] === "incremental") this.stream.write(`${key[0]}\n`)
  }
  remove(key) {
    return this.inner.remove(key)
  }
  loadRange(prefix) {
    return this.inner.loadRange(prefix)
  }
  removeRange(prefix) {
    return this.inner.removeRange(prefix)
  }
}

const fsStorage = new NodeFSStorageAdapter(dir)
const saveLog = values["save-log"] ? fs.createWriteStream(values["save-log"], { flags: "a" }) : null
const storage = saveLog ? new SaveLoggingStorageAdapter(fsStorage, saveLog) : fsStorage

const socket = new WebSocketServer({ host: HOST, port })
const peerId = `storage-server-${os.hostname()}`
const repo = new Repo({
  network: [new NodeWSServerAdapter(socket)],
  storage,
  peerId,
  // Since this is a server, we don't share generously — meaning we only sync
  // documents they already know about and can ask for by ID.
  sharePolicy: async () => false,
})

socket.on("listening", () => {
  const { port: actual } = socket.address()
  process.stdout.write(
    `kam-peer-server ready port=${actual} pid=${process.pid} data_dir=${dir} peer_id=${peerId}\n`,
  )
})
socket.on("error", err => {
  console.error(`server.mjs: ${err.message}`)
  process.exit(1)
})

let stopping = false
async function stop(signal) {
  if (stopping) return
  stopping = true
  console.error(`server.mjs: ${signal}, flushing and closing`)
  const hard = setTimeout(() => process.exit(1), 10_000)
  hard.unref()
  try {
    socket.close()
    await repo.shutdown() // disconnects adapters and flushes every document
  } catch (e) {
    console.error(`server.mjs: shutdown error: ${e?.message ?? e}`)
  }
  process.exit(0)
}
process.on("SIGTERM", () => stop("SIGTERM"))
process.on("SIGINT", () => stop("SIGINT"))
