// Deterministic generators for the KAM "field day" documents and edits.
// Everything is driven by a seeded PRNG so two runs with the same flags
// produce the same shapes and sizes (the document ids are random, as
// automerge-repo generates them).
import * as A from "@automerge/automerge"

export function rng(seed) {
  // mulberry32
  let a = seed >>> 0
  return function () {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const pick = (r, xs) => xs[Math.floor(r() * xs.length)]
const int = (r, lo, hi) => lo + Math.floor(r() * (hi - lo + 1))

export function uuid(r) {
  const h = []
  for (let i = 0; i < 16; i++) h.push(Math.floor(r() * 256))
  h[6] = (h[6] & 0x0f) | 0x40
  h[8] = (h[8] & 0x3f) | 0x80
  const s = h.map(b => b.toString(16).padStart(2, "0")).join("")
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`
}

const PREFIX = ["Nord", "Alpen", "Rhein", "Baltic", "Iberia", "Danube", "Atlas", "Helvet", "Adria", "Lumen", "Vertex", "Summit"]
const CORE = ["Logistics", "Pharma", "Foods", "Steel", "Energy", "Textiles", "Robotics", "Retail", "Chemicals", "Paper", "Optics", "Motors"]
const SUFFIX = ["GmbH", "AG", "S.A.", "S.p.A.", "B.V.", "Ltd", "SAS", "Oy", "AB", "Sp. z o.o."]
export const SEGMENTS = ["enterprise", "mid_market", "smb", "public_sector"]
export const STAGES = ["lead", "qualified", "discovery", "proposal", "negotiation", "won", "lost"]
export const SCORE_KEYS = ["need", "purchasing_power", "loyalty", "size", "strategic_value"]
const TAGS = ["priority", "renewal", "upsell", "at-risk", "new-logo", "reference", "tender", "pilot", "multi-site", "exec-sponsor"]
const PLACES = [
  ["Berlin", "DE", 52.52, 13.405], ["Munich", "DE", 48.137, 11.575], ["Hamburg", "DE", 53.551, 9.993],
  ["Vienna", "AT", 48.208, 16.373], ["Zurich", "CH", 47.376, 8.541], ["Lyon", "FR", 45.764, 4.835],
  ["Milan", "IT", 45.464, 9.19], ["Rotterdam", "NL", 51.924, 4.477], ["Warsaw", "PL", 52.229, 21.012],
  ["Madrid", "ES", 40.416, -3.703], ["Porto", "PT", 41.157, -8.629], ["Gothenburg", "SE", 57.708, 11.974],
]
const PURPOSES = ["Quarterly business review", "Discovery meeting", "Product demonstration", "Contract renewal", "Site survey", "Escalation follow-up"]
const SENTENCES = [
  "The plant manager confirmed a second production line is planned for next year.",
  "Procurement wants a consolidated offer covering all three sites.",
  "Budget approval moves to the board meeting in the autumn.",
  "They are unhappy with the current supplier's delivery times.",
  "The technical team asked for a trial with our new sensor kit.",
  "A competitor visited last week with an aggressive price.",
  "Our champion was promoted to head of operations.",
  "Payment terms of sixty days are a hard requirement for them.",
  "Sustainability reporting is becoming a purchasing criterion.",
  "The CFO wants a total cost of ownership comparison.",
  "Spare part availability was raised as the main concern.",
  "They plan to reduce the number of approved vendors.",
]

// Text of about `n` characters made of whole sentences.
export function text(r, n) {
  let s = ""
  while (s.length < n) s += (s ? " " : "") + pick(r, SENTENCES)
  return s
}

export function accountDoc(r, { ownerId, teamId }) {
  const [city, country, lat, lon] = pick(r, PLACES)
  const scores = {}
  for (const k of SCORE_KEYS) scores[k] = int(r, 1, 5)
  const tags = []
  for (let i = int(r, 1, 3); i > 0; i--) tags.push(pick(r, TAGS))
  return {
    name: `${pick(r, PREFIX)} ${pick(r, CORE)} ${pick(r, SUFFIX)}`,
    segment: pick(r, SEGMENTS),
    stage: pick(r, STAGES.slice(0, 4)),
    owner_id: ownerId,
    team_id: teamId,
    shared_with: [],
    scores,
    address: { city, country },
    location: { lat: +(lat + (r() - 0.5) * 0.1).toFixed(6), lon: +(lon + (r() - 0.5) * 0.1).toFixed(6) },
    tags: [...new Set(tags)],
    notes: text(r, 200),
    deleted: false,
  }
}

export function visitDoc(r, { accountId, ownerId, baseTime }) {
  const step = () => ({ done: false, notes: "" })
  const planned = new Date(baseTime + int(r, 1, 30) * 86400000 + int(r, 8, 17) * 3600000)
  return {
    account_id: accountId,
    owner_id: ownerId,
    key_person_ids: [uuid(r), uuid(r)],
    planned_at: planned.toISOString(), // RFC 3339, e.g. 2025-03-14T09:00:00.000Z
    type: "onsite",
    purpose: pick(r, PURPOSES),
    status: "planned",
    steps: { identify: step(), probe: step(), recommend: step(), close: step(), follow_up: step() },
    summary: text(r, 300),
    next_steps: [],
    deleted: false,
  }
}

// The k-th further edit of an account (one handle.change each). Rotates among
// stage, a score, a sentence spliced into notes, a new tag.
// `variant` makes two devices write different values into the same field and
// the same text position (conflict scenario).
export function applyEdit(handle, k, variant = 0) {
  switch (k % 4) {
    case 0: {
      const stage = STAGES[((k >> 2) + variant * 3 + 1) % STAGES.length]
      handle.change(d => { d.stage = stage })
      break
    }
    case 1: {
      const key = SCORE_KEYS[(k >> 2) % SCORE_KEYS.length]
      const v = variant ? 5 - ((k >> 2) % 5) : 1 + ((k >> 2) % 5)
      handle.change(d => { d.scores[key] = v })
      break
    }
    case 2: {
      // Insert a sentence into the notes text (Automerge text splice). The
      // position is a sentence boundary chosen from the current length, so
      // two devices editing the same base text hit the same position.
      const sentence = (variant ? "[B] " : "") + SENTENCES[(k + variant * 5) % SENTENCES.length] + " "
      handle.change(d => {
        const notes = d.notes
        const len = notes.length
        let pos = Math.floor(len / 2)
        const dot = notes.indexOf(". ", pos)
        pos = dot >= 0 ? dot + 2 : len
        A.splice(d, ["notes"], pos, 0, sentence)
      })
      break
    }
    case 3: {
      const tag = TAGS[(k + variant * 3) % TAGS.length] + (variant ? "-b" : "")
      handle.change(d => { d.tags.push(tag) })
      break
    }
  }
}
