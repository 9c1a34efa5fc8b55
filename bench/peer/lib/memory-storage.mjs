// In-memory StorageAdapterInterface for the simulated devices (a phone's
// IndexedDB stand-in). Keys are arrays of strings; a range is a key prefix.
// Entries are grouped by the first key part (the document id), so a range
// look-up costs O(entries of that document), not O(all entries).
const SEP = "\u0000"

export class MemoryStorageAdapter {
  #byHead = new Map() // key[0] -> Map(joined rest -> data)

  #bucket(head, create) {
    let b = this.#byHead.get(head)
    if (!b && create) this.#byHead.set(head, (b = new Map()))
    return b
  }

  async load(key) {
    return this.#bucket(key[0], false)?.get(key.slice(1).join(SEP))
  }

  async save(key, data) {
    this.#bucket(key[0], true).set(key.slice(1).join(SEP), data)
  }

  async remove(key) {
    this.#bucket(key[0], false)?.delete(key.slice(1).join(SEP))
  }

  #matching(prefix) {
    const b = this.#bucket(prefix[0], false)
    if (!b) return []
    const p = prefix.slice(1).join(SEP)
    const out = []
    for (const k of b.keys()) {
      if (p === "" || k === p || k.startsWith(p + SEP)) out.push(k)
    }
    return out.map(k => [b, k])
  }

  async loadRange(prefix) {
    return this.#matching(prefix).map(([b, k]) => ({
      key: [prefix[0], ...(k === "" ? [] : k.split(SEP))],
      data: b.get(k),
    }))
  }

  async removeRange(prefix) {
    for (const [b, k] of this.#matching(prefix)) b.delete(k)
  }

  bytes() {
    let n = 0
    for (const b of this.#byHead.values()) for (const v of b.values()) n += v.byteLength
    return n
  }
}
