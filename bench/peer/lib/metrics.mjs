// Process, storage and statistics helpers for the driver.
import fs from "node:fs"
import path from "node:path"
import * as A from "@automerge/automerge"

const CLK_TCK = 100 // USER_HZ on Linux

/** CPU seconds (utime+stime) and peak/current RSS of a process, from /proc. */
export function procStats(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    // fields after the ")" of comm: state is field 3; utime=14, stime=15
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const utime = Number(rest[14 - 3])
    const stime = Number(rest[15 - 3])
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8")
    const kb = name => {
      const m = status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, "m"))
      return m ? Number(m[1]) : null
    }
    return {
      cpu_s: (utime + stime) / CLK_TCK,
      vm_hwm_kb: kb("VmHWM"),
      vm_rss_kb: kb("VmRSS"),
    }
  } catch (e) {
    return null
  }
}

/** CPU seconds of one thread (the main thread's tid is the pid), from /proc. */
export function threadCpuSeconds(pid, tid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8")
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return (Number(rest[14 - 3]) + Number(rest[15 - 3])) / CLK_TCK
  } catch {
    return null
  }
}

/** Reset a process's peak RSS (VmHWM) to its current RSS. Needs root or the same uid. */
export function resetPeakRss(pid) {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, "5")
    return true
  } catch {
    return false
  }
}

/** Apparent bytes, allocated bytes and file count under a directory. */
export function dirSize(dir) {
  let bytes = 0
  let allocated = 0
  let files = 0
  const walk = d => {
    let entries
    try {
      entries = fs.readdirSync(d, { withFileTypes: true })
    } catch {
      return
    }
    for (const e of entries) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) walk(p)
      else {
        try {
          const st = fs.statSync(p)
          bytes += st.size
          allocated += st.blocks * 512
          files++
        } catch {}
      }
    }
  }
  walk(dir)
  return { bytes, allocated_bytes: allocated, files }
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return null
  // nearest-rank
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]
}

/** min/p50/p95/p99/max/mean (nearest-rank percentiles); `total` (the sum) only when asked. */
export function summary(values, { total = false } = {}) {
  const s = [...values].sort((a, b) => a - b)
  const sum = s.reduce((a, b) => a + b, 0)
  const out = {
    min: s[0] ?? null,
    p50: percentile(s, 50),
    p95: percentile(s, 95),
    p99: percentile(s, 99),
    max: s[s.length - 1] ?? null,
    mean: s.length ? Math.round((sum / s.length) * 10) / 10 : null,
  }
  if (total) out.total = sum
  return out
}

export const sameHeads = (a, b) => {
  if (!a || !b || a.length !== b.length) return false
  const x = [...a].sort()
  const y = [...b].sort()
  return x.every((h, i) => h === y[i])
}

/**
 * Reads one document from the sync server's NodeFSStorageAdapter directory
 * (<dir>/<id[0:2]>/<id[2:]>/{snapshot,incremental}/<hash>) exactly as the
 * server's StorageSubsystem would load it (snapshots first, then incrementals,
 * concatenated, Automerge.loadIncremental) and returns its heads (hex), or
 * null while the files are absent, mid-write or mid-compaction.
 * `cache` keeps, per document, the file signature of the last attempt so an
 * unchanged set of files is not parsed twice.
 */
export async function diskHeads(dataDir, documentId, cache) {
  const base = path.join(dataDir, documentId.slice(0, 2), documentId.slice(2))
  const parts = []
  let sig = ""
  for (const kind of ["snapshot", "incremental"]) {
    let names
    try {
      names = await fs.promises.readdir(path.join(base, kind))
    } catch (e) {
      if (e.code === "ENOENT") continue
      throw e
    }
    names.sort()
    for (const n of names) {
      try {
        const buf = await fs.promises.readFile(path.join(base, kind, n))
        parts.push(buf)
        sig += `${kind}/${n}:${buf.length};`
      } catch (e) {
        if (e.code === "ENOENT") return null // removed by a compaction meanwhile
        throw e
      }
    }
  }
  if (parts.length === 0) return null
  const prev = cache?.get(documentId)
  if (prev && prev.sig === sig) return prev.heads
  let heads = null
  try {
    const doc = A.loadIncremental(A.init(), Buffer.concat(parts))
    heads = A.getHeads(doc)
    A.free(doc) // don't leave WASM memory to the GC (see README on external memory)
  } catch {
    heads = null // a chunk still being written
  }
  cache?.set(documentId, { sig, heads })
  return heads
}

/** Reads a document's full content from the server's storage directory. */
export async function diskDoc(dataDir, documentId) {
  const base = path.join(dataDir, documentId.slice(0, 2), documentId.slice(2))
  const parts = []
  for (const kind of ["snapshot", "incremental"]) {
    let names = []
    try {
      names = (await fs.promises.readdir(path.join(base, kind))).sort()
    } catch {}
    for (const n of names) parts.push(await fs.promises.readFile(path.join(base, kind, n)))
  }
  return parts.length ? A.loadIncremental(A.init(), Buffer.concat(parts)) : null
}
